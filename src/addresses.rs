//! Sets of addresses, not of CIDR strings: what "still published" means. When Amazon withdraws one /24
//! of a published /22, the lossless aggregation splits the /22 into a /24 and a /23: the /22 is no
//! longer a published *CIDR*, but most of its *addresses* are. Make-before-break is about addresses
//! (docs/design.md, "Why the order of a plan is safe"), so removals and the referees compare sets of
//! addresses: sorted, disjoint, inclusive intervals per family.

use std::net::IpAddr;

use ipnet::IpNet;

/// Sorted, disjoint, non-adjacent inclusive intervals, for one family.
type Intervals = Vec<(u128, u128)>;

/// A set of IPv4 and IPv6 addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Addresses {
    v4: Intervals,
    v6: Intervals,
}

fn interval(net: &IpNet) -> (u128, u128) {
    let num = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    (num(net.network()), num(net.broadcast()))
}

/// `intervals` sorted and merged.
fn normalised(mut intervals: Intervals) -> Intervals {
    intervals.sort_unstable();
    let mut out: Intervals = Vec::with_capacity(intervals.len());
    for (a, b) in intervals {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn intersect(x: &Intervals, y: &Intervals) -> Intervals {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < x.len() && j < y.len() {
        let (a, b) = (x[i].0.max(y[j].0), x[i].1.min(y[j].1));
        if a <= b {
            out.push((a, b));
        }
        if x[i].1 < y[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Whether every address of `inner` is in `outer`.
fn within(inner: &Intervals, outer: &Intervals) -> bool {
    inner.iter().all(|&(a, b)| {
        let k = outer.partition_point(|&(_, end)| end < a);
        k < outer.len() && outer[k].0 <= a && b <= outer[k].1
    })
}

impl Addresses {
    /// The addresses of `nets`.
    pub fn of<'a>(nets: impl IntoIterator<Item = &'a IpNet>) -> Addresses {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for net in nets {
            match net {
                IpNet::V4(_) => v4.push(interval(net)),
                IpNet::V6(_) => v6.push(interval(net)),
            }
        }
        Addresses {
            v4: normalised(v4),
            v6: normalised(v6),
        }
    }

    /// Whether it holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The addresses in either.
    pub fn union(&self, other: &Addresses) -> Addresses {
        let both = |x: &Intervals, y: &Intervals| normalised(x.iter().chain(y).copied().collect());
        Addresses {
            v4: both(&self.v4, &other.v4),
            v6: both(&self.v6, &other.v6),
        }
    }

    /// The addresses in both.
    pub fn intersection(&self, other: &Addresses) -> Addresses {
        Addresses {
            v4: intersect(&self.v4, &other.v4),
            v6: intersect(&self.v6, &other.v6),
        }
    }

    /// Whether any address of `net` is in the set.
    pub fn overlaps(&self, net: &IpNet) -> bool {
        let one = Addresses::of([net]);
        !self.intersection(&one).is_empty()
    }

    /// Whether every address of `other` is in the set.
    pub fn contains(&self, other: &Addresses) -> bool {
        within(&other.v4, &self.v4) && within(&other.v6, &self.v6)
    }

    /// The addresses of `other` that are not in the set, as CIDRs (for messages).
    pub fn missing(&self, other: &Addresses) -> Vec<IpNet> {
        let mut out = Vec::new();
        for (mine, theirs, v6) in [(&self.v4, &other.v4, false), (&self.v6, &other.v6, true)] {
            for &(a, b) in theirs {
                // The first address of [a, b] not accounted for yet.
                let mut from = a;
                let mut covered = false;
                for &(c, d) in mine.iter().filter(|(c, d)| *d >= a && *c <= b) {
                    if c > from {
                        out.extend(cidrs(from, c - 1, v6));
                    }
                    if d >= b {
                        covered = true;
                        break;
                    }
                    from = from.max(d + 1);
                }
                if !covered && from <= b {
                    out.extend(cidrs(from, b, v6));
                }
            }
        }
        out
    }
}

/// `2^size - 1`: the last offset of a block of `2^size` addresses.
fn span(size: u32) -> u128 {
    if size >= 128 {
        u128::MAX
    } else {
        (1u128 << size) - 1
    }
}

/// The fewest CIDRs covering exactly `[a, b]`.
fn cidrs(mut a: u128, b: u128, v6: bool) -> Vec<IpNet> {
    let bits: u32 = if v6 { 128 } else { 32 };
    let mut out = Vec::new();
    loop {
        // The largest block aligned at `a` that stays within `b`.
        let mut size = if a == 0 {
            bits
        } else {
            a.trailing_zeros().min(bits)
        };
        while size > 0 && span(size) > b - a {
            size -= 1;
        }
        let prefix = (bits - size) as u8;
        let net = if v6 {
            IpNet::new(IpAddr::V6(a.into()), prefix)
        } else {
            IpNet::new(IpAddr::V4((a as u32).into()), prefix)
        }
        .expect("a prefix within the family");
        out.push(net);
        let end = a + span(size);
        if end >= b {
            return out;
        }
        a = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn set(list: &[&str]) -> Addresses {
        Addresses::of(&nets(list))
    }

    #[test]
    fn a_split_aggregate_is_still_partly_published() {
        // 23.228.248.0/22 minus 23.228.249.0/24, as the aggregation writes it.
        let after = set(&["23.228.248.0/24", "23.228.250.0/23"]);
        let before: IpNet = "23.228.248.0/22".parse().unwrap();
        assert!(after.overlaps(&before));
        assert!(!after.overlaps(&"23.228.252.0/22".parse().unwrap()));
        assert!(set(&["23.228.248.0/22"]).contains(&after));
        assert!(!after.contains(&set(&["23.228.248.0/22"])));
        assert_eq!(
            after.missing(&set(&["23.228.248.0/22"])),
            nets(&["23.228.249.0/24"])
        );
        assert!(set(&["2600:9000::/28"]).overlaps(&"2600:9000:1000::/36".parse().unwrap()));
    }

    #[test]
    fn adjacent_blocks_merge_and_families_stay_apart() {
        let s = set(&["10.0.0.0/25", "10.0.0.128/25", "::/1"]);
        assert!(s.contains(&set(&["10.0.0.0/24"])));
        assert!(!s.contains(&set(&["10.0.0.0/23"])));
        assert!(set(&["0.0.0.0/0"]).contains(&set(&["203.0.113.0/24"])));
        assert!(!set(&["0.0.0.0/0"]).contains(&set(&["2001:db8::/32"])));
        assert_eq!(
            set(&[]).missing(&set(&["10.0.0.0/23"])),
            nets(&["10.0.0.0/23"])
        );
        assert_eq!(
            set(&["0.0.0.0/0"]).intersection(&set(&["10.1.0.0/16", "::/0"])),
            set(&["10.1.0.0/16"])
        );
    }
}

/// What a document publishes beyond a deployment's selection, for `REPLACES`: a swap may drop a
/// rule of a replaced group only for addresses the document no longer publishes for the selected
/// services (ranges withdrawn from them) but publishes for some service still (Amazon's own), so
/// that what someone added to a group (an office, a monitor) is never taken for a withdrawn range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// The selected services' addresses, in every region and both families.
    pub service: Addresses,
    /// Every address the document publishes, for any service.
    pub document: Addresses,
}
