//! Several runs of one workload summarised as one line: the median of every figure,
//! and the fastest and slowest of each wall-time figure.

use serde_json::{Map, Value, json};

/// Wall-time figures (and rates derived from them): reported with their min and max.
const SPREAD: &[&str] = &[
    "wall_s",
    "sync_s",
    "records_per_s",
    "receiver_cpu_us_per_record",
    "wall_over_min",
    "all_stored_s",
    "p50_peer_s",
    "p99_peer_s",
    "p50_ms",
    "p99_ms",
];

/// One line for `runs` (lines of the same workload): each number the median over the
/// runs (the upper middle of an even count), `F_min`/`F_max` beside each wall-time
/// figure `F`, and `runs`. Anything not a number is taken from the first run.
pub(crate) fn summarise(runs: &[Value]) -> Value {
    let Some(first) = runs.first() else {
        return Value::Null;
    };
    let mut line = median_of(first, runs, &mut Vec::new());
    if let Value::Object(map) = &mut line {
        for field in SPREAD {
            let values: Vec<f64> = runs.iter().filter_map(|r| r[field].as_f64()).collect();
            if values.len() == runs.len() {
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                map.insert(format!("{field}_min"), json!(min));
                map.insert(format!("{field}_max"), json!(max));
            }
        }
        map.insert("runs".into(), json!(runs.len()));
    }
    line
}

fn median_of(shape: &Value, runs: &[Value], path: &mut Vec<String>) -> Value {
    match shape {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                path.push(key.clone());
                out.insert(key.clone(), median_of(value, runs, path));
                path.pop();
            }
            Value::Object(out)
        }
        Value::Number(_) => {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| at(r, path).and_then(Value::as_f64))
                .collect();
            values.sort_by(f64::total_cmp);
            if values.is_empty() {
                return shape.clone();
            }
            let middle = values[values.len() / 2];
            if shape.is_u64() || shape.is_i64() {
                json!(middle.round() as i64)
            } else {
                json!((middle * 1000.0).round() / 1000.0)
            }
        }
        other => other.clone(),
    }
}

fn at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_spread() {
        let runs: Vec<Value> = [3.0, 1.0, 2.0, 5.0, 4.0]
            .iter()
            .map(|w| json!({"workload": "W1", "wall_s": w, "bytes": (*w as u64) * 10, "rss": {"a": 7}}))
            .collect();
        let line = summarise(&runs);
        assert_eq!(line["wall_s"], json!(3.0));
        assert_eq!(line["wall_s_min"], json!(1.0));
        assert_eq!(line["wall_s_max"], json!(5.0));
        assert_eq!(line["bytes"], json!(30));
        assert_eq!(line["rss"]["a"], json!(7));
        assert_eq!(line["workload"], json!("W1"));
        assert_eq!(line["runs"], json!(5));
    }
}
