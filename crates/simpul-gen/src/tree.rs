//! The district tree below a node: puskesmas, pustu and posyandu, named the way
//! [`FacilityPath`] expects.

use simpul_model::{FacilityPath, Level};

/// Posyandu per pustu, and pustu per puskesmas, in a generated tree.
const FAN_OUT: u64 = 5;

/// A generated posyandu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posyandu {
    /// Its facility path.
    pub path: FacilityPath,
    /// The Kemendagri code of the village it serves.
    pub village: String,
    /// Day of the month it opens (hari buka).
    pub open_day: u8,
}

fn digits(segment: &str) -> &str {
    segment
        .trim_start_matches('P')
        .split('-')
        .next()
        .unwrap_or(segment)
}

fn number_after(segment: &str, marker: &str) -> u64 {
    segment
        .split_once(marker)
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(1)
}

fn posyandu(path: FacilityPath, pustu_digits: &str, pustu_no: u64, k: u64) -> Posyandu {
    let village = format!("{}{:04}", &pustu_digits[..6], 2000 + pustu_no);
    Posyandu {
        path,
        village,
        open_day: (5 + (k * 3) % 20) as u8,
    }
}

fn child(parent: &FacilityPath, segment: String) -> FacilityPath {
    parent
        .child(&segment)
        .unwrap_or_else(|e| unreachable!("generated segment is valid: {e}"))
}

/// `count` posyandu below `node` (or `node` itself when it is a posyandu), spread over
/// as many puskesmas and pustu as needed.
pub fn posyandu_below(node: &FacilityPath, count: u64) -> Vec<Posyandu> {
    match node.level() {
        Level::Posyandu => {
            let pustu = node.parent().unwrap_or_else(|| node.clone());
            let n = number_after(pustu.code(), "-PU");
            vec![posyandu(
                node.clone(),
                digits(node.code()),
                n,
                number_after(node.code(), "-PY"),
            )]
        }
        Level::Pustu => {
            let d = digits(node.code()).to_string();
            let n = number_after(node.code(), "-PU");
            (1..=count)
                .map(|k| posyandu(child(node, format!("{d}-PY{k:02}")), &d, n, k))
                .collect()
        }
        Level::Puskesmas => {
            let d = digits(node.code()).to_string();
            let pustu = count.div_ceil(FAN_OUT);
            let mut out = Vec::new();
            for j in 1..=pustu {
                let pu = child(node, format!("{d}-PU{j}"));
                let here = (count - out.len() as u64).min(FAN_OUT);
                out.extend(posyandu_below(&pu, here));
            }
            out
        }
        Level::District => {
            let per = FAN_OUT * FAN_OUT;
            let puskesmas = count.div_ceil(per);
            let mut out = Vec::new();
            for i in 0..puskesmas {
                let seg = format!("P{}{:02}{:04}", node.code(), i % 99 + 1, 201 + i / 99);
                let pkm = child(node, seg);
                let here = (count - out.len() as u64).min(per);
                out.extend(posyandu_below(&pkm, here));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_at_every_level() {
        let district = FacilityPath::parse("3273").expect("path");
        let all = posyandu_below(&district, 60);
        assert_eq!(all.len(), 60);
        assert!(all.iter().all(|p| p.path.level() == Level::Posyandu && district.is_ancestor_or_self(&p.path)));
        assert!(
            all.iter()
                .all(|p| simpul_model::VillageCode::parse(&p.village).is_ok())
        );
        let py =
            FacilityPath::parse("3273/P3273010201/3273010201-PU1/3273010201-PY04").expect("path");
        assert_eq!(posyandu_below(&py, 10).len(), 1);
    }
}
