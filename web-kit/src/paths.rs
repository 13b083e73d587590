//! Where a user may be sent back to after signing in.

/// Accepts only a local path such as `/idp/authorize?…` (SECURITY IO-03): it must start
/// with a single `/`, and `//evil`, `/\evil`, absolute URLs, `javascript:` and control
/// characters fall back to `fallback`.
pub fn safe_return_to<'a>(candidate: Option<&'a str>, fallback: &'a str) -> &'a str {
    match candidate {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control() || c == '\\')
                && p.len() <= 4096 =>
        {
            p
        }
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_kept() {
        for ok in ["/", "/idp/authorize?client_id=dip&state=x", "/dip"] {
            assert_eq!(safe_return_to(Some(ok), "/home"), ok);
        }
        for bad in [
            "//evil.tld",
            "/\\evil.tld",
            "https://evil.tld",
            "javascript:alert(1)",
            "",
            "/a\nb",
            "/a\\b",
        ] {
            assert_eq!(safe_return_to(Some(bad), "/home"), "/home", "{bad:?}");
        }
        assert_eq!(safe_return_to(None, "/home"), "/home");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // IO-03: whatever comes in, what goes out is a local path.
            #[test]
            fn the_result_is_always_a_single_slash_path(
                s in prop_oneof![any::<String>(), "[/\\\\a-z:.]{0,12}", "/[ -~]{0,30}"],
            ) {
                let out = safe_return_to(Some(&s), "/");
                prop_assert!(out.starts_with('/'), "{:?}", out);
                prop_assert!(!out.starts_with("//") && !out.starts_with("/\\"), "{:?}", out);
                prop_assert!(!out.chars().any(char::is_control), "{:?}", out);
            }
        }
    }
}
