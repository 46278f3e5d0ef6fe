//! Rough WHO 2006 medians, enough to make plausible growth curves.

use simpul_model::Sex;

/// Median weight in kg at `months` (0–59).
pub(crate) fn weight_kg(months: i32, sex: Sex) -> f64 {
    let m = f64::from(months.max(0));
    let w = if m <= 6.0 {
        3.3 + 0.7 * m
    } else if m <= 12.0 {
        7.5 + 0.22 * (m - 6.0)
    } else if m <= 24.0 {
        8.8 + 0.2 * (m - 12.0)
    } else {
        11.2 + 0.17 * (m - 24.0)
    };
    if sex == Sex::Female { w * 0.95 } else { w }
}

/// Median length (under 24 months) or height in cm.
pub(crate) fn stature_cm(months: i32, sex: Sex) -> f64 {
    let m = f64::from(months.max(0));
    let h = if m <= 12.0 {
        50.0 + 2.1 * m
    } else if m <= 24.0 {
        75.2 + 0.95 * (m - 12.0)
    } else {
        86.6 + 0.62 * (m - 24.0)
    };
    if sex == Sex::Female { h * 0.985 } else { h }
}

/// Median head circumference in cm (under 24 months).
pub(crate) fn head_cm(months: i32) -> f64 {
    let m = f64::from(months.max(0));
    if m <= 12.0 {
        34.5 + 0.95 * m
    } else {
        45.9 + 0.2 * (m - 12.0)
    }
}
