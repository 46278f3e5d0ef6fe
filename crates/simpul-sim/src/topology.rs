//! The simulated district: a district office, two puskesmas, four pustu, eight posyandu,
//! linked along the tree plus extra links between siblings and across levels.

use simpul_model::FacilityPath;

/// The facility paths of the simulated district, district first.
pub fn district() -> Vec<FacilityPath> {
    let mut paths = vec!["3273".to_string()];
    for pkm in ["3273010201", "3273020201"] {
        paths.push(format!("3273/P{pkm}"));
        for pu in 1..=2 {
            paths.push(format!("3273/P{pkm}/{pkm}-PU{pu}"));
            for py in 1..=2 {
                let n = (pu - 1) * 2 + py;
                paths.push(format!("3273/P{pkm}/{pkm}-PU{pu}/{pkm}-PY{n:02}"));
            }
        }
    }
    paths
        .iter()
        .map(|p| {
            FacilityPath::parse(p).unwrap_or_else(|e| unreachable!("fixed path is valid: {e}"))
        })
        .collect()
}

/// Links as (dialler, listener) node indices: every child dials its parent, siblings
/// under one pustu are linked, and each pustu also dials the district directly.
pub fn links(nodes: &[FacilityPath]) -> Vec<(usize, usize)> {
    let index = |p: &FacilityPath| nodes.iter().position(|n| n == p);
    let mut links = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(parent) = n.parent().and_then(|p| index(&p)) {
            links.push((i, parent));
        }
    }
    for (i, a) in nodes.iter().enumerate() {
        for (j, b) in nodes.iter().enumerate().skip(i + 1) {
            if a.level() == simpul_model::Level::Posyandu && a.parent() == b.parent() {
                links.push((i, j));
            }
        }
        if a.level() == simpul_model::Level::Pustu {
            links.push((i, 0));
        }
    }
    links
}
