//! Turns entry names and symlink targets into paths that cannot leave the package. Pure: no file
//! system access.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Longest symlink target accepted, Linux's `PATH_MAX`.
pub(crate) const LINK_TARGET_MAX: usize = 4096;

/// The relative path an entry name stands for, with `.`, empty components and inner `..`
/// resolved; `None` if the name contains NUL, is absolute or climbs out with `..`.
///
/// The result is empty for names such as `./` that denote the package root. Both `/` and `\`
/// separate components, because zip tools on Windows write `\`; treating it as a separator also
/// means `..\x` is refused rather than written as a strange file name.
pub(crate) fn entry_path(name: &str) -> Option<PathBuf> {
    if name.contains('\0') || name.starts_with(['/', '\\']) {
        return None;
    }
    let mut parts = Vec::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    Some(parts.iter().collect())
}

/// The target to give a symlink at `link` (a path from [`entry_path`]) so that it resolves inside
/// the package; `None` if `target` is empty, too long, contains NUL, is absolute or climbs out.
///
/// The target comes back normalised: `..` only at its start, then plain names. This matters
/// because the kernel resolves `..` against the directory a link really leads to: in `a/b/../x`,
/// if `a/b` is itself a symlink the `..` climbs from wherever it points, which a check on the text
/// cannot see. A link sitting in a real directory whose target has only leading `..` cannot reach
/// further up than the text says.
pub(crate) fn link_target(link: &Path, target: &[u8]) -> Option<PathBuf> {
    if target.is_empty()
        || target.len() > LINK_TARGET_MAX
        || target.contains(&0)
        || target.starts_with(b"/")
    {
        return None;
    }
    let link_depth = link.components().count().checked_sub(1)?;
    let mut climbs = 0;
    let mut names: Vec<&[u8]> = Vec::new();
    for part in target.split(|&byte| byte == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if names.pop().is_none() {
                    climbs += 1;
                }
            }
            _ => names.push(part),
        }
    }
    if climbs > link_depth {
        return None;
    }
    let mut normalised = PathBuf::new();
    for _ in 0..climbs {
        normalised.push("..");
    }
    for name in names {
        normalised.push(OsStr::from_bytes(name));
    }
    if normalised.as_os_str().is_empty() {
        normalised.push(".");
    }
    Some(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_entry(name: &str, expect: Option<&str>) {
        assert_eq!(
            entry_path(name),
            expect.map(PathBuf::from),
            "entry name {name:?}"
        );
    }

    fn check_link(link: &str, target: &str, expect: Option<&str>) {
        assert_eq!(
            link_target(Path::new(link), target.as_bytes()),
            expect.map(PathBuf::from),
            "link {link:?} -> {target:?}"
        );
    }

    #[test]
    fn entry_names_resolve_inside_the_package() {
        check_entry("bootstrap", Some("bootstrap"));
        check_entry("lib/a.so", Some("lib/a.so"));
        check_entry("./lib//a.so", Some("lib/a.so"));
        check_entry("lib/", Some("lib"));
        check_entry("a/../b", Some("b"));
        check_entry("a\\b", Some("a/b"));
        check_entry("./", Some(""));
    }

    #[test]
    fn entry_names_that_escape_are_refused() {
        check_entry("../evil", None);
        check_entry("/etc/x", None);
        check_entry("\\etc\\x", None);
        check_entry("a/../../x", None);
        check_entry("a\\..\\..\\x", None);
        check_entry("..", None);
        check_entry("a\0b", None);
    }

    #[test]
    fn link_targets_inside_the_package_are_normalised() {
        check_link("current", "lib/data.txt", Some("lib/data.txt"));
        check_link("lib/up", "../bootstrap", Some("../bootstrap"));
        check_link("a/b/l", "../../x", Some("../../x"));
        check_link("a/b/l", "c/../../x", Some("../x"));
        check_link("a/l", "x/./y/", Some("x/y"));
        check_link("l", ".", Some("."));
        check_link("a/l", "x/..", Some("."));
    }

    #[test]
    fn link_targets_outside_the_package_are_refused() {
        check_link("l", "/etc/passwd", None);
        check_link("l", "../x", None);
        check_link("a/l", "../../x", None);
        check_link("l", "a/../../x", None);
        check_link("a/b/l", "c/../../../../x", None);
        check_link("l", "", None);
        check_link("l", "a\0b", None);
        check_link("l", &"a".repeat(LINK_TARGET_MAX + 1), None);
    }
}
