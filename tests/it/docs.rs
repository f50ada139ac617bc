//! What the documentation states that a test can check: the README's figures are BENCHMARKS.md's
//! latest run (never typed twice out of step).

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The number right after `before` in `text` (digits and a point).
fn number_after(text: &str, before: &str) -> f64 {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("'{before}' is not in the text"));
    let rest = &text[at + before.len()..];
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .trim_end_matches('.')
        .parse()
        .unwrap_or_else(|_| panic!("no number after '{before}'"))
}

#[test]
fn the_readmes_figures_are_the_latest_benchmarks() {
    let readme = read("README.md");
    let bench = read("BENCHMARKS.md");
    let size = number_after(&bench, "Size: ");
    assert_eq!(
        number_after(&readme, "(x86_64) is **"),
        size,
        "bootstrap MB"
    );
    let init = number_after(&bench, "(20 runs): median ");
    let said_init = number_after(&readme[readme.find("cold init").unwrap()..], "is **");
    assert_eq!(said_init, (init * 10.0).round() / 10.0, "cold init ms");
    let boto = number_after(&bench, "every Python cold start) | ");
    let said_boto = number_after(&readme, "Python function pays ~");
    assert_eq!(
        said_boto,
        (boto / 10.0).round() * 10.0,
        "Python cold start ms"
    );
}
