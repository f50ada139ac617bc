//! What the documentation states that a test can check: the README's figures are BENCHMARKS.md's
//! latest run (never typed twice out of step), and the snippets of docs/iac.md parse.

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

/// The fenced blocks of `lang` in a Markdown file, in order.
fn blocks(markdown: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

fn venv(tool: &str) -> String {
    let path = format!("{}/.venv/bin/{tool}", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: run `scripts/setup-moto.sh docs` (make test does)"
    );
    path
}

/// docs/iac.md's Terraform and CloudFormation snippets are what they claim: HCL that parses, and
/// templates cfn-lint passes without a warning; and they say the things the page is for.
#[test]
fn the_iac_snippets_parse() {
    let page = read("docs/iac.md");
    let dir = tempfile::tempdir().unwrap();
    let hcl = blocks(&page, "hcl");
    assert!(hcl.len() >= 4, "{} Terraform snippets", hcl.len());
    for (i, block) in hcl.iter().enumerate() {
        let file = dir.path().join(format!("snippet{i}.tf"));
        std::fs::write(&file, block).unwrap();
        let out = std::process::Command::new(venv("python"))
            .args([
                "-c",
                "import hcl2, sys; hcl2.load(open(sys.argv[1]))",
                file.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "Terraform snippet {i} does not parse: {}\n{block}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all_hcl = hcl.concat();
    assert!(all_hcl.contains("ignore_changes = [security_groups]"));
    for record in ["security-groups", "prefix-lists", "waf-ip-sets"] {
        assert!(
            all_hcl.contains(&format!("/sgsync/${{var.sgsync_deployment}}/{record}")),
            "{record}"
        );
    }
    assert!(all_hcl.contains("startswith(id, \"pl-\")"));

    let yaml = blocks(&page, "yaml");
    assert!(yaml.len() >= 2, "{} CloudFormation snippets", yaml.len());
    for (i, block) in yaml.iter().enumerate() {
        let file = dir.path().join(format!("snippet{i}.yaml"));
        std::fs::write(&file, block).unwrap();
        let out = std::process::Command::new(venv("cfn-lint"))
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "CloudFormation snippet {i}: {}\n{block}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(
        yaml.concat()
            .contains("AWS::SSM::Parameter::Value<List<String>>")
    );
}
