//! Pruning: after a successful PostTraffic report, delete versions older than the
//! newest `keep`, never `$LATEST` nor a version an alias points to (its additional
//! weighted version included), at most [`MAX_DELETIONS`] a run, each logged.

use super::effects::Versions;
use super::{Prune, MAX_DELETIONS};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The versions to delete, oldest first: numbered versions beyond the newest `keep`,
/// less those any alias uses, at most [`MAX_DELETIONS`].
pub(crate) fn plan(versions: &[String], protected: &BTreeSet<String>, keep: u32) -> Vec<String> {
    let mut numbered: Vec<u64> = versions.iter().filter_map(|v| v.parse().ok()).collect();
    numbered.sort_unstable_by(|a, b| b.cmp(a));
    numbered.dedup();
    let mut old: Vec<u64> = numbered
        .into_iter()
        .skip(keep as usize)
        .filter(|v| !protected.contains(&v.to_string()))
        .collect();
    old.reverse();
    old.into_iter()
        .take(MAX_DELETIONS)
        .map(|v| v.to_string())
        .collect()
}

/// Prunes `function`; the log record of what it did (also on failure: what was
/// deleted before it stopped, and why).
pub(crate) async fn prune(versions: &dyn Versions, function: &str, prune: Prune) -> Value {
    let listed = match versions.versions(function).await {
        Ok(v) => v,
        Err(e) => return json!({ "function": function, "error": e.to_string(), "deleted": [] }),
    };
    let aliases = match versions.aliases(function).await {
        Ok(a) => a,
        Err(e) => return json!({ "function": function, "error": e.to_string(), "deleted": [] }),
    };
    let protected: BTreeSet<String> = aliases
        .iter()
        .flat_map(|a| std::iter::once(a.version.clone()).chain(a.additional.iter().cloned()))
        .collect();
    let doomed = plan(&listed, &protected, prune.keep);
    let mut deleted = Vec::new();
    for version in &doomed {
        match versions.delete(function, version).await {
            Ok(()) => {
                tracing::info!(function, version, "deleted an old version (prune)");
                deleted.push(version.clone());
            }
            Err(e) => {
                tracing::warn!(function, version, error = %e, "could not delete an old version (prune)");
                return json!({ "function": function, "keep": prune.keep, "deleted": deleted,
                    "error": format!("deleting version {version}: {e}") });
            }
        }
    }
    json!({ "function": function, "keep": prune.keep, "deleted": deleted,
        "kept_for_aliases": protected.into_iter().collect::<Vec<_>>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn keeps_the_newest_and_deletes_the_oldest_first() {
        let all = v(&["$LATEST", "1", "2", "3", "4", "5", "10"]);
        assert_eq!(plan(&all, &set(&[]), 3), v(&["1", "2", "3"]));
    }

    #[test]
    fn never_deletes_latest_nor_an_aliased_or_weighted_version() {
        let all = v(&["$LATEST", "1", "2", "3", "4", "5"]);
        assert_eq!(plan(&all, &set(&["1", "3"]), 1), v(&["2", "4"]));
        assert_eq!(plan(&v(&["$LATEST"]), &set(&[]), 1), Vec::<String>::new());
    }

    #[test]
    fn deletes_at_most_twenty_a_run() {
        let all: Vec<String> = (1..=50).map(|n| n.to_string()).collect();
        let doomed = plan(&all, &set(&[]), 2);
        assert_eq!(doomed.len(), MAX_DELETIONS);
        assert_eq!(doomed[0], "1");
        assert_eq!(doomed[19], "20");
    }
}
