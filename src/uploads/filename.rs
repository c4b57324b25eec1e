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

/// The longest file name Linux file systems store (NAME_MAX).
const MAX_NAME_BYTES: usize = 255;

/// The name a picture is stored under: `<user id>_<safe name>`, its stem shortened so the whole
/// stays within `MAX_NAME_BYTES` (a longer name fails to be created), its extension, which
/// names the type, kept.
pub fn stored_name(user_id: i64, safe: &str) -> String {
    let prefix = format!("{user_id}_");
    let (stem, extension) = match safe.rfind('.') {
        Some(dot) if dot > 0 => safe.split_at(dot),
        _ => (safe, ""),
    };
    // `safe` is ASCII (secure_filename keeps nothing else), so bytes are characters.
    let room = MAX_NAME_BYTES.saturating_sub(prefix.len() + extension.len());
    let name = format!("{prefix}{}{extension}", &stem[..stem.len().min(room)]);
    name[..name.len().min(MAX_NAME_BYTES)].to_owned()
}

#[cfg(test)]
mod tests {
    use super::{MAX_NAME_BYTES, secure_filename, stored_name};

    #[test]
    fn stored_names_fit_a_file_system_name_and_keep_the_extension() {
        assert_eq!(stored_name(7, "me.png"), "7_me.png");
        let long = format!("{}.png", "a".repeat(300));
        let stored = stored_name(1234567, &long);
        assert_eq!(stored.len(), MAX_NAME_BYTES);
        assert!(stored.starts_with("1234567_aaa") && stored.ends_with("a.png"), "{stored}");
        assert_eq!(secure_filename(&stored), stored);
        assert_eq!(stored_name(1, &"b".repeat(300)).len(), MAX_NAME_BYTES);
    }

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
