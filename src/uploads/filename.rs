//! `secure_filename`, as werkzeug defines it.

use unicode_normalization::UnicodeNormalization;

/// werkzeug's `secure_filename`: NFKD-normalise and drop non-ASCII, turn path separators and
/// whitespace runs into `_`, keep only ASCII letters, digits, `.`, `_` and `-`, and strip
/// leading and trailing `.` and `_`. The result has no path parts and never starts with a dot;
/// it may be empty.
pub fn secure_filename(name: &str) -> String {
    let ascii: String = name.nfkd().filter(char::is_ascii).collect();
    // werkzeug replaces only the OS's separators; both are replaced here because a client on
    // Windows sends `C:\Users\me\pic.png`.
    let spaced = ascii.replace(['/', '\\'], " ");
    let joined = spaced.split_whitespace().collect::<Vec<_>>().join("_");
    let kept: String = joined
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    kept.trim_matches(|c| c == '.' || c == '_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::secure_filename;

    #[test]
    fn matches_werkzeug_examples() {
        assert_eq!(secure_filename("My cool movie.mov"), "My_cool_movie.mov");
        assert_eq!(secure_filename("../../../etc/passwd"), "etc_passwd");
        assert_eq!(
            secure_filename("i contain cool \u{fc}ml\u{e4}uts.txt"),
            "i_contain_cool_umlauts.txt"
        );
    }

    #[test]
    fn removes_path_parts() {
        assert_eq!(secure_filename("../../x.png"), "x.png");
        assert_eq!(secure_filename("/etc/x.png"), "etc_x.png");
        assert_eq!(secure_filename("C:\\Users\\me\\pic.png"), "C_Users_me_pic.png");
        assert_eq!(secure_filename(".hidden.png"), "hidden.png");
    }

    proptest::proptest! {
        #[test]
        fn output_is_a_plain_name_inside_the_folder(name in "\\PC*") {
            let safe = secure_filename(&name);
            proptest::prop_assert!(safe.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)), "{safe:?}");
            proptest::prop_assert!(!safe.starts_with('.'), "{safe:?}");
            proptest::prop_assert_eq!(secure_filename(&safe), safe.clone());
            if !safe.is_empty() {
                let dir = std::path::Path::new("/srv/uploads");
                let path = dir.join(&safe);
                proptest::prop_assert_eq!(path.parent(), Some(dir));
            }
        }

        #[test]
        fn traversal_pieces_never_survive(parts in proptest::collection::vec("(\\.\\.|/|\\\\|[a-z]{1,3}|%2e|\\.)", 0..12)) {
            let safe = secure_filename(&parts.concat());
            proptest::prop_assert!(!safe.contains('/') && !safe.contains('\\') && !safe.starts_with('.'));
            proptest::prop_assert!(safe != ".." && safe != ".");
        }
    }

    #[test]
    fn may_be_empty() {
        assert_eq!(secure_filename("../.."), "");
        assert_eq!(secure_filename("日本"), "");
    }
}
