//! A test that keeps the layering of `lib.rs` true: no two top-level modules import each other,
//! directly or round a circle, and neither do two files of one folder (its `mod.rs`, which
//! declares and re-exports them, aside). Read from the sources as text, like a reviewer would.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// A file's module path: `src/auth/keys.rs` is `auth::keys`, `src/auth/mod.rs` is `auth`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Every source file under `src/`, by module path.
fn sources(dir: &Path, root: &Path, found: &mut BTreeMap<Vec<String>, String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, root, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = fs::read_to_string(&path).unwrap();
            found.insert(module_of(path.strip_prefix(root).unwrap()), text);
        }
    }
}

/// The paths a `use` tree names, from just after `crate::` or `super::`:
/// `a::{b, c::d}` gives `a::b` and `a::c::d`.
fn use_tree(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) -> usize {
    let mut path = prefix.to_vec();
    let mut at = 0;
    let bytes = text.as_bytes();
    loop {
        let rest = &text[at..];
        let skipped = rest.len() - rest.trim_start().len();
        at += skipped;
        if text[at..].starts_with('{') {
            at += 1;
            loop {
                at += use_tree(&text[at..], &path, out);
                let rest = &text[at..];
                at += rest.len() - rest.trim_start().len();
                match bytes.get(at) {
                    Some(b',') => at += 1,
                    Some(b'}') => return at + 1,
                    _ => return at,
                }
                let rest = &text[at..];
                at += rest.len() - rest.trim_start().len();
                if bytes.get(at) == Some(&b'}') {
                    return at + 1;
                }
            }
        }
        let ident_len = text[at..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(text.len() - at);
        if ident_len == 0 {
            out.push(path);
            return at;
        }
        path.push(text[at..at + ident_len].to_owned());
        at += ident_len;
        if text[at..].starts_with("::") {
            at += 2;
        } else {
            out.push(path);
            return at;
        }
    }
}

/// The module paths a file names through `crate::` and `super::` (comments left out).
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (marker, base) in [
        ("crate::", Vec::new()),
        // `auth/keys.rs` (`auth::keys`) and `auth/mod.rs` (`auth`) alike: the module above.
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut from = 0;
        while let Some(found) = code[from..].find(marker) {
            let start = from + found;
            let preceded_by_ident = code[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            from = start + marker.len();
            if !preceded_by_ident || code[..start].ends_with('$') {
                use_tree(&code[from..], &base, &mut out);
            }
        }
    }
    out
}

/// The longest prefix of `path` that is a module.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| modules.contains(prefix))
}

/// A circle in `edges`, if there is one.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|seen| seen == node) {
            let mut found = stack[at..].to_vec();
            found.push(node.to_owned());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn modules_import_each_other_in_one_direction_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut within: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        let Some(first) = module.first() else { continue };
        if first == "main" || first == "layers" {
            continue;
        }
        for target in references(module, text) {
            let Some(target) = resolve(&target, &modules) else { continue };
            let Some(target_first) = target.first() else { continue };
            if target_first != first {
                top.entry(first.clone()).or_default().insert(target_first.clone());
            } else if module.len() == 2 && target.len() == 2 && target != *module {
                // Two files of one folder; the folder's mod.rs (path of length 1) is left out.
                within.entry(module.join("::")).or_default().insert(target.join("::"));
            }
        }
    }
    assert!(top.len() > 10, "the sources were not read: {top:?}");
    assert_eq!(circle(&top), None, "top-level modules import each other round a circle");
    assert_eq!(circle(&within), None, "files of one folder import each other round a circle");
}

/// The handler files of `routes/` each `routes` file names, other than the response bodies
/// they share (`openapi.rs`, which lists every handler's operation, and `mod.rs`, the route
/// table, aside).
fn sideways_imports(files: &BTreeMap<Vec<String>, String>) -> BTreeSet<String> {
    let modules: BTreeSet<Vec<String>> = files.keys().cloned().collect();
    let mut found = BTreeSet::new();
    for (module, text) in files {
        let [top, file] = module.as_slice() else { continue };
        if top != "routes" || file == "openapi" {
            continue;
        }
        for target in references(module, text) {
            match resolve(&target, &modules).as_deref() {
                Some([top, other]) if top == "routes" && other != file && other != "responses" => {
                    found.insert(format!("{file} -> {other}"));
                }
                _ => {}
            }
        }
    }
    found
}

/// Flows several handlers share live in `account/` (or a floor below it), never in a handler's
/// file that its siblings import.
#[test]
fn handlers_import_no_other_handler() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    sources(&root, &root, &mut files);
    assert!(
        files.keys().filter(|module| module.first().is_some_and(|m| m == "routes")).count() > 10
    );
    assert_eq!(sideways_imports(&files), BTreeSet::new());
}

#[test]
fn a_sideways_import_is_found_when_there_is_one() {
    let files: BTreeMap<Vec<String>, String> = [
        (vec!["routes", "login"], "use super::{mfa::challenge, responses::LoginReply};"),
        (vec!["routes", "mfa"], "use crate::{account::codes, routes::login::x};"),
        (vec!["routes", "responses"], ""),
        (vec!["routes", "openapi"], "use super::{login, mfa};"),
        (vec!["account", "codes"], ""),
    ]
    .into_iter()
    .map(|(module, text)| (module.into_iter().map(str::to_owned).collect(), text.to_owned()))
    .collect();
    let expected: BTreeSet<String> = ["login -> mfa", "mfa -> login"].map(str::to_owned).into();
    assert_eq!(sideways_imports(&files), expected);
}

#[test]
fn a_circle_is_found_when_there_is_one() {
    let edges: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(from, to)| (from.to_owned(), to.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(circle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let mut found = Vec::new();
    use_tree("{a::{b, c::d}, e};", &[], &mut found);
    let expected: Vec<Vec<String>> = [vec!["a", "b"], vec!["a", "c", "d"], vec!["e"]]
        .into_iter()
        .map(|path| path.into_iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(found, expected);
}
