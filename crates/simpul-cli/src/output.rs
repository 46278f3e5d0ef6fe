//! Text output for people.

use std::io::Write;

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use simpul_model::{Patient, RecordId, Scope, Visit};

/// A borderless table with these column headers.
pub(crate) fn table(headers: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.to_vec());
    t
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// A patient and their visits, as text.
pub(crate) fn patient_text(
    out: &mut impl Write,
    id: RecordId,
    scope: &Scope,
    p: &Patient,
) -> std::io::Result<()> {
    writeln!(out, "{} ({}, born {})", p.name, p.sex, p.birth_date)?;
    writeln!(out, "  record      {id}")?;
    writeln!(out, "  NIK         {}", opt(&p.identifiers.nik))?;
    if let Some(nik_ibu) = &p.identifiers.nik_ibu {
        writeln!(
            out,
            "  NIK ibu     {nik_ibu} (birth order {})",
            p.identifiers.birth_order.unwrap_or(1)
        )?;
    }
    writeln!(out, "  KK          {}", opt(&p.identifiers.kk))?;
    writeln!(out, "  BPJS        {}", opt(&p.identifiers.bpjs))?;
    let a = &p.address;
    writeln!(
        out,
        "  address     {} RT {} RW {}, village {}",
        opt(&a.line),
        opt(&a.rt),
        opt(&a.rw),
        a.village
    )?;
    writeln!(out, "  registered  {}", p.home_facility)?;
    if let Some(m) = p.mother {
        writeln!(out, "  mother      {m}")?;
    }
    let paths: Vec<&str> = scope.paths.iter().map(|p| p.as_str()).collect();
    writeln!(out, "  scope       {} {}", scope.audience, paths.join(", "))?;
    let current: std::collections::BTreeSet<&str> =
        p.current_visits().into_iter().map(|(id, _)| id).collect();
    writeln!(
        out,
        "\n{} visits ({} current)",
        p.visits.len(),
        current.len()
    )?;
    if p.visits.is_empty() {
        return Ok(());
    }
    let mut t = table(&["VISIT", "DATE", "KLASTER", "WHAT", "STATUS"]);
    let mut visits: Vec<(&String, &Visit)> = p.visits.iter().collect();
    visits.sort_by(|a, b| a.1.date.cmp(&b.1.date).then(a.0.cmp(b.0)));
    for (vid, v) in visits {
        let status = if let Some(mark) = &v.entered_in_error {
            format!("entered in error: {}", mark.reason)
        } else if !current.contains(vid.as_str()) {
            "corrected".to_string()
        } else if let Some(old) = &v.supersedes {
            format!("corrects {old}")
        } else {
            String::new()
        };
        t.add_row(vec![
            vid.clone(),
            v.date.to_string(),
            v.klaster.to_string(),
            describe(v),
            status,
        ]);
    }
    writeln!(out, "{t}")
}

fn describe(v: &Visit) -> String {
    let m = &v.measurements;
    let mut parts = Vec::new();
    let mut num = |label: &str, value: Option<f64>, unit: &str| {
        if let Some(x) = value {
            parts.push(format!("{label} {x}{unit}"));
        }
    };
    num("BB", m.weight_kg, " kg");
    num("PB", m.length_cm, " cm");
    num("TB", m.height_cm, " cm");
    num("LK", m.head_circumference_cm, " cm");
    num("LiLA", m.muac_cm, " cm");
    num("LP", m.waist_cm, " cm");
    num("GDS", m.glucose_mg_dl, " mg/dL");
    num("Hb", m.hb_g_dl, " g/dL");
    if let (Some(s), Some(d)) = (m.systolic_mmhg, m.diastolic_mmhg) {
        parts.push(format!("TD {s}/{d}"));
    }
    if m.oedema {
        parts.push("oedema".into());
    }
    for i in &v.immunisations {
        parts.push(format!("{}-{}", i.antigen, i.dose));
    }
    if v.vitamin_a {
        parts.push("vit A".into());
    }
    for s in &v.screenings {
        parts.push(format!("{} {} ({})", s.instrument, s.score, s.result));
    }
    if let Some(k) = v.anc_number {
        parts.push(format!("K{k}"));
    }
    parts.join(", ")
}

/// A Unix-ms time as "2026-11-23 17:40:03 UTC".
pub(crate) fn when(ms: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A span of milliseconds for people: "850 ms", "42 s", "7 min", "3 h 5 min", "2 days".
pub(crate) fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        _ if ms < 1000 => format!("{ms} ms"),
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} days", s / 86_400),
    }
}

/// How long before `now` a time was: "12 s ago".
pub(crate) fn ago(now_ms: u64, then_ms: u64) -> String {
    format!("{} ago", span(now_ms.saturating_sub(then_ms)))
}

/// Bytes for people: "812 B", "4.2 KB", "3.1 MB".
pub(crate) fn bytes(n: u64) -> String {
    match n {
        0..1000 => format!("{n} B"),
        1000..1_000_000 => format!("{:.1} KB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}
