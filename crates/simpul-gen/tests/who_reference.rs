//! `simpul_model::growth` against an independent implementation of the WHO Child Growth
//! Standards: pygrowup2 from PyPI (scripts/who-reference-setup.sh installs it into
//! target/who-reference; scripts/who_zscores.py drives it), on every weighing of more
//! than a thousand generated children, some pushed past ±3 SD so the WHO's restricted
//! adjustment is exercised. Every z-score agrees within 0.01 and every Permenkes
//! category is the same.
//!
//! The reference reports z-scores rounded to 0.01 (as WHO anthro does) and looks up
//! weight-for-length/height at the nearest 0.1 cm row; generated lengths are in whole
//! 0.1 cm, where that is the WHO's value exactly.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use simpul_gen::Generator;
use simpul_model::growth::{self, Category, Score};
use simpul_model::{Date, FacilityPath, Measurements, Sex};

const SEED: u64 = 20_261_205;
const PEOPLE: u64 = 12_000;
const MIN_CHILDREN: usize = 1_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// One measurement of one child, as both implementations take it.
struct Case {
    sex: Sex,
    age_days: i64,
    m: Measurements,
}

/// Every weighing of every generated under-five; every fifth child's weights are
/// scaled to far below or above the median, and every seventh measured in the other
/// position than her age calls for (the 0.7 cm rule).
fn cases() -> (Vec<Case>, usize) {
    let as_of = Date::from_ymd(2026, 10, 31).expect("date");
    let node = FacilityPath::parse("3273/P3273010201").expect("path");
    let generator = Generator::new(SEED, &node, PEOPLE, as_of);
    let mut cases = Vec::new();
    let mut children = 0;
    for i in 0..PEOPLE {
        let record = generator.patient(i);
        let Some(p) = record.patient() else { continue };
        let before = cases.len();
        for visit in p.visits.values() {
            let age_days = p.birth_date.days_until(visit.date);
            let mut m = visit.measurements.clone();
            if !(0..=growth::MAX_AGE_DAYS).contains(&age_days) || m.weight_kg.is_none() {
                continue;
            }
            let scale = match i % 10 {
                0 => 0.55,
                5 => 1.6,
                _ => 1.0,
            };
            m.weight_kg = m.weight_kg.map(|w| (w * scale * 10.0).round() / 10.0);
            if i % 7 == 0 {
                (m.length_cm, m.height_cm) = (m.height_cm, m.length_cm);
            }
            cases.push(Case {
                sex: p.sex,
                age_days,
                m,
            });
        }
        children += usize::from(cases.len() > before);
    }
    (cases, children)
}

fn reference(cases: &[Case]) -> Vec<[Option<f64>; 6]> {
    let root = root();
    let setup = Command::new("bash")
        .arg(root.join("scripts/who-reference-setup.sh"))
        .output()
        .expect("run who-reference-setup.sh");
    assert!(
        setup.status.success(),
        "who-reference-setup.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&setup.stdout),
        String::from_utf8_lossy(&setup.stderr)
    );
    let mut input = String::from("id,sex,age_days,weight_kg,length_cm,measured,head_cm,muac_cm\n");
    let cell = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for (i, c) in cases.iter().enumerate() {
        let (length, measured) = match (c.m.length_cm, c.m.height_cm) {
            (Some(l), _) => (Some(l), "lying"),
            (None, Some(h)) => (Some(h), "standing"),
            (None, None) => (None, ""),
        };
        input.push_str(&format!(
            "{i},{},{},{},{},{measured},{},{}\n",
            c.sex,
            c.age_days,
            cell(c.m.weight_kg),
            cell(length),
            cell(c.m.head_circumference_cm),
            cell(c.m.muac_cm),
        ));
    }
    // From a file: written through a pipe, the cases would fill it while the
    // script's answers fill the other.
    let mut file = tempfile::tempfile().expect("temp file");
    file.write_all(input.as_bytes()).expect("write cases");
    file.seek(SeekFrom::Start(0)).expect("rewind");
    let out = Command::new(root.join("target/who-reference/bin/python"))
        .arg(root.join("scripts/who_zscores.py"))
        .stdin(Stdio::from(file))
        .output()
        .expect("run who_zscores.py");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let rows: Vec<[Option<f64>; 6]> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let z = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            [z(1), z(2), z(3), z(4), z(5), z(6)]
        })
        .collect();
    assert_eq!(rows.len(), cases.len(), "one answer per case");
    rows
}

#[test]
fn z_scores_and_categories_agree_with_pygrowup2() {
    let (cases, children) = cases();
    assert!(children >= MIN_CHILDREN, "{children} children");
    let theirs = reference(&cases);
    let names = ["wfa", "lhfa", "wflh", "bmi", "hcfa", "acfa"];
    let mut compared = [0usize; 6];
    let mut beyond_three = 0;
    for (i, (c, theirs)) in cases.iter().zip(&theirs).enumerate() {
        let birth = Date::from_ymd(2020, 1, 1).expect("date");
        let a = growth::assess(c.sex, birth, birth.add_days(c.age_days), &c.m).expect("under five");
        let ours: [Option<Score>; 6] = [
            a.weight_for_age,
            a.length_height_for_age,
            a.weight_for_length_height,
            a.bmi_for_age,
            a.head_circumference_for_age,
            a.arm_circumference_for_age,
        ];
        for k in 0..6 {
            match (ours[k], theirs[k]) {
                (Some(o), Some(t)) => {
                    assert!(
                        (o.z - t).abs() < 0.01,
                        "case {i} {}: ours {} theirs {t}",
                        names[k],
                        o.z
                    );
                    compared[k] += 1;
                    beyond_three += usize::from(t.abs() > 3.0);
                }
                (None, None) => {}
                (o, t) => panic!("case {i} {}: ours {o:?} theirs {t:?}", names[k]),
            }
        }
        // The categories from their z-scores (as shown, to 0.01) are ours.
        let category = |z: Option<f64>, band: fn(f64) -> Category| z.map(band);
        let plausible = |s: Option<Score>| s.filter(|s| !s.implausible);
        if plausible(a.weight_for_age).is_some() {
            assert_eq!(
                a.underweight(),
                category(theirs[0], Category::weight_for_age),
                "case {i}"
            );
        }
        if plausible(a.length_height_for_age).is_some() {
            assert_eq!(
                a.stunting(),
                category(theirs[1], Category::length_height_for_age),
                "case {i}"
            );
        }
        if plausible(a.weight_for_length_height).is_some() {
            assert_eq!(
                a.wasting(),
                category(theirs[2], Category::weight_for_length_height),
                "case {i}"
            );
        }
    }
    println!(
        "{} measurements of {children} children compared: {compared:?} scores \
         (wfa, lhfa, wflh, bmi, hcfa, acfa), {beyond_three} beyond 3 SD",
        cases.len()
    );
    assert!(compared.iter().all(|&n| n >= 500), "{compared:?}");
    assert!(
        beyond_three >= 100,
        "the restricted adjustment is exercised"
    );
}
