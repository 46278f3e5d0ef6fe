#!/usr/bin/env python3
"""Reference WHO 2006 Child Growth Standards z-scores, computed by the PyPI
package ``pygrowup2`` (import name ``pygrowup``), for comparison against an
independent implementation.

Install (Python 3.10+; tested on 3.11.7; no dependencies, pure Python):
scripts/who-reference-setup.sh (pygrowup2==1.0.0 into target/who-reference).

Usage:

    target/who-reference/bin/python scripts/who_zscores.py [--precise]
        [--max-age-days N] [--nine-month-rule] < in.csv > out.csv

crates/simpul-gen/tests/who_reference.rs runs it without --precise: the
package's own code, its z-scores rounded to 0.01.

Input (stdin), CSV with header:
    id,sex,age_days,weight_kg,length_cm,measured,head_cm,muac_cm
  sex       M or F (case-insensitive; 1/2 also accepted)
  age_days  whole days (a fractional value is rounded half up, as WHO anthro's
            round_up does; pygrowup2 itself would truncate with int())
  measured  lying | standing (l/h accepted); length_cm is what was measured
  Any field except id may be empty.

Output (stdout), CSV with header:
    id,wfa,lhfa,wflh,bmi,hcfa,acfa
  A cell is empty where the package gives nothing (input missing, age or
  measurement outside the package's range, no table row) or where a WHO anthro
  convention applied here blanks it (age past --max-age-days).

---------------------------------------------------------------------------
What the package does (pygrowup2 1.0.0, pygrowup/pygrowup.py, read in full):

* Tables: by-day L, M, S for wfa, lfa (length/height), bmifa, hcfa, acfa
  (ages 0..1856 days; acfa 91..1856), and wfl (45..110 cm) / wfh (65..120 cm)
  in 0.1 cm rows. These are the WHO anthro tables (weianthro.txt etc.): they
  were compared row by row with simpul's
  crates/simpul-model/data/who-growth-2006/*.txt and are identical on every
  row simpul ships (simpul stops at 1826 days; the package goes to 1856).
  So this reference is independent in code, not in data.
  Past 1856 days the package switches to WHO 2007 monthly tables (age rounded
  to the nearest month); the default --max-age-days 1826 keeps us out of that.
* Formula: z = ((y/M)^L - 1)/(S*L) in decimal.Decimal (28 significant digits).
* Restricted adjustment beyond +-3 SD (WHO technical report ch. 7):
      z* = 3 + (y - SD3pos)/(SD3pos - SD2pos)    if z > 3
      z* = -3 + (y - SD3neg)/(SD2neg - SD3neg)   if z < -3
  with SDk = M*(1 + L*S*k)^(1/L), applied to WEIGHT_BASED_INDICATORS =
  wfa, wfl, wfh, bmifa, acfa (and the skinfolds). NOT to lfa (length/height)
  nor hcfa. This is the same set as the WHO anthro R package (lhfa and hcfa
  use compute_zscore, all the others compute_zscore_adjusted).
* ROUNDING: every z-score the package returns is quantized to 0.01
  (Decimal.quantize, ROUND_HALF_EVEN) -- same as WHO anthro's default
  z_precision = 2. The first-pass z is quantized BEFORE the |z| > 3 test, so a
  raw z of 3.004 is reported as 3.00 without adjustment (the adjusted value
  would differ in the 3rd decimal only). Compare default-mode output with a
  tolerance of 0.005 plus a hair (e.g. 0.0051), not 0.
* Weight-for-length/height: the package rounds the length to the nearest
  0.1 cm (Decimal quantize, half-even: 65.25 -> 65.2, 65.35 -> 65.4) and uses
  that row. It does NOT interpolate. WHO anthro (R) interpolates L, M and S
  linearly between the two 0.1 cm rows around the length. For lengths given
  to 0.1 cm (and so also after a +-0.7 adjustment) both agree exactly; for
  e.g. 70.25 cm they can differ by ~0.02 z. See --precise.
  Range checks are on the rounded length: wfl 45..110, wfh 65..120.
* Age: the package keeps whole days (int). Observation(age_in_days=0) is
  broken in the package (0 is falsy, so age stays None and the constructor
  raises TypeError); this wrapper constructs every Observation from a dob and
  a date of observation that are age_days apart, which gives t = age_days for
  every age including 0.
* Length/height adjustment inside the package (lhfa auto_adjust) uses
  365*2 = 730 days as the switch (>= 730 days lying -> -0.7), one day earlier
  than WHO anthro (731). This wrapper does NOT use it (auto_adjust=False): it
  adjusts itself, per WHO anthro, see below.
* Measurement bounds enforced by the package (outside -> nothing):
  weight 1..125 kg (wfa, wfl, wfh), length/height 10..200 cm (lhfa),
  BMI 5..60, head circumference 10..150 cm, MUAC 3..40 cm (acfa); acfa only
  from 91 days; hcfa/wfa/lhfa/bmifa from 0 days. WHO anthro has no such
  bounds (only > 0): a weight under 1 kg gets no wfa/wflh here.

Conventions applied by this wrapper (as WHO anthro, R package anthro,
R/z-score.R, R/z-score-helper.R adjust_lenhei, R/z-score-weight-for-lenhei.R):

* Below 731 days length is expected lying: measured standing -> +0.7 cm.
  From 731 days height is expected standing: measured lying -> -0.7 cm.
  Empty `measured`: no adjustment (WHO anthro assumes the expected position).
* lhfa uses the adjusted length/height with the package's by-day lfa table
  (which holds the length curve up to 730 days and the height curve from 731).
* wflh: weight-for-length below 731 days, weight-for-height from 731, on the
  adjusted length/height. If age_days is empty (WHO anthro still computes
  wflh then): by `measured` (lying -> wfl, standing -> wfh; if empty,
  wfl below 87 cm, wfh from 87 cm) on the unadjusted length.
* BMI = weight / (adjusted length/height in m)^2, computed in Decimal, then
  given to the package's bmifa.
* Age cut: WHO anthro only computes z-scores for age_in_months < 60, i.e.
  age_days <= 1826 (age_days / 30.4375 < 60). Rows older than
  --max-age-days (default 1826) get no z-scores at all. (The package itself
  would go on to 1856 days by day, then WHO 2007 by month.)
* Not applied by default: WHO anthro >= 1.1 treats a standing measure before
  9 months (age_days / 30.4375 < 9) as implausible and drops the position
  (so no +0.7 cm is added). --nine-month-rule applies that.
* No oedema column: weight-based scores are always computed.

--precise: the same tables, validation, range checks and conventions, but
  (a) no quantization: the z-score (and the |z| > 3 test) use the unrounded
  Decimal value, printed with 6 decimals; and (b) weight-for-length/height
  interpolates L, M, S linearly between the 0.1 cm rows around the length, as
  WHO anthro does (low = trunc(len*10)/10, f = (len - low)/0.1), instead of
  rounding the length. (a) and (b) replace two package methods
  (_get_first_pass_z_score, _adjust_weight_based_z_score) and the wfl/wfh
  row lookup with code in this file; the formulas are the package's, minus
  the .quantize() calls.
"""

import argparse
import csv
import datetime
import sys
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from decimal import getcontext

from pygrowup import Observation, exceptions

STANDING_FROM_DAYS = 731
ADJ = Decimal("0.7")
DAYS_PER_MONTH = Decimal("365.25") / Decimal(12)  # 30.4375, WHO anthro
BASE_DATE = datetime.date(2000, 1, 1)

OUT_FIELDS = ["id", "wfa", "lhfa", "wflh", "bmi", "hcfa", "acfa"]


class PreciseObservation(Observation):
    """pygrowup2's Observation without the 0.01 quantization."""

    def _get_first_pass_z_score(self, y, l, m, s):
        ctx = getcontext()
        return ctx.divide(ctx.divide(y, m) ** l - Decimal(1), ctx.multiply(s, l))

    def _adjust_weight_based_z_score(self, z_score, y, l, m, s):
        ctx = getcontext()
        exp = ctx.divide(Decimal(1), l)

        def sd(k):
            return m * (Decimal(1) + l * s * Decimal(k)) ** exp

        if z_score > 3:
            return Decimal(3) + ctx.divide(y - sd(3), sd(3) - sd(2))
        if z_score < -3:
            return Decimal(-3) + ctx.divide(y - sd(-3), sd(-2) - sd(-3))
        return z_score


def parse_decimal(text):
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}")
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return value


def parse_sex(text):
    t = (text or "").strip().lower()
    if t in ("m", "male", "1"):
        return Observation.MALE
    if t in ("f", "female", "2"):
        return Observation.FEMALE
    return None


def parse_measured(text):
    t = (text or "").strip().lower()
    if t in ("lying", "l", "recumbent", "length"):
        return "lying"
    if t in ("standing", "h", "height"):
        return "standing"
    if t == "":
        return None
    raise ValueError(f"measured must be lying or standing, not {text!r}")


def make_observation(cls, sex, age_days):
    # Built from two dates so that age 0 works (see module docstring).
    days = age_days if age_days is not None else 0
    return cls(
        sex=sex,
        dob=BASE_DATE,
        date_of_observation=BASE_DATE + datetime.timedelta(days=days),
    )


def safe(fn, *args, **kwargs):
    """The package's value, or None where it gives nothing."""
    try:
        return fn(*args, **kwargs)
    except exceptions.PyGrowUpException:
        return None


def interpolated_wflh(obs, table, weight, length):
    """--precise weight-for-length/height: L, M, S interpolated between the
    0.1 cm rows (WHO anthro), restricted adjustment as the package does."""
    low = (length * 10).to_integral_value(rounding=ROUND_FLOOR) / 10
    if low == length:
        return getattr(obs, table)(weight, length)
    lo_bound, hi_bound = (45, 110) if table == "wfl" else (65, 120)
    if length < lo_bound or length > hi_bound:
        return None
    y = obs._validate_measurement(weight, 1, 125)
    high = low + Decimal("0.1")
    a = obs._get_box_cox_variables(table, obs.sex, low)
    b = obs._get_box_cox_variables(table, obs.sex, high)
    f = (length - low) / Decimal("0.1")
    lms = {k: a[k] + f * (b[k] - a[k]) for k in ("l", "m", "s")}
    z = obs._get_first_pass_z_score(y, **lms)
    if abs(z) > 3:  # wfl and wfh are both weight-based: restricted
        z = obs._adjust_weight_based_z_score(z, y, **lms)
    return z


def compute(row, precise, max_age_days, nine_month_rule):
    out = {k: None for k in OUT_FIELDS[1:]}
    sex = parse_sex(row.get("sex"))
    if sex is None:
        return out
    age = parse_decimal(row.get("age_days"))
    if age is not None:
        if age < 0:
            return out
        age = int(age.to_integral_value(rounding=ROUND_HALF_UP))
        if age > max_age_days:
            return out
    weight = parse_decimal(row.get("weight_kg"))
    length = parse_decimal(row.get("length_cm"))
    measured = parse_measured(row.get("measured"))
    head = parse_decimal(row.get("head_cm"))
    muac = parse_decimal(row.get("muac_cm"))

    cls = PreciseObservation if precise else Observation
    obs = make_observation(cls, sex, age)

    if (
        nine_month_rule
        and age is not None
        and measured == "standing"
        and Decimal(age) / DAYS_PER_MONTH < 9
    ):
        measured = None

    # Length/height standardised by the 0.7 cm rule.
    adj_length = length
    if length is not None and age is not None:
        if age < STANDING_FROM_DAYS and measured == "standing":
            adj_length = length + ADJ
        elif age >= STANDING_FROM_DAYS and measured == "lying":
            adj_length = length - ADJ

    if age is not None:
        if weight is not None:
            out["wfa"] = safe(obs.wfa, weight)
        if adj_length is not None:
            out["lhfa"] = safe(obs.lhfa, adj_length, auto_adjust=False)
        if head is not None:
            out["hcfa"] = safe(obs.hcfa, head)
        if muac is not None:
            out["acfa"] = safe(obs.acfa, muac)
        if weight is not None and adj_length is not None and adj_length > 0:
            bmi = weight / (adj_length / 100) ** 2
            out["bmi"] = safe(obs.bmifa, bmi)

    if weight is not None and adj_length is not None:
        if age is not None:
            table = "wfl" if age < STANDING_FROM_DAYS else "wfh"
        elif measured is not None:
            table = "wfl" if measured == "lying" else "wfh"
        else:
            table = "wfl" if adj_length < 87 else "wfh"
        if precise:
            out["wflh"] = safe(interpolated_wflh, obs, table, weight, adj_length)
        else:
            out["wflh"] = safe(getattr(obs, table), weight, adj_length)
    return out


def fmt(value, precise):
    if value is None:
        return ""
    if precise:
        return f"{value:.6f}"
    return str(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precise", action="store_true",
                    help="no 0.01 rounding; interpolate wfl/wfh between 0.1 cm rows")
    ap.add_argument("--max-age-days", type=int, default=1826,
                    help="blank every z-score past this age (WHO anthro: 1826)")
    ap.add_argument("--nine-month-rule", action="store_true",
                    help="WHO anthro >= 1.1: standing before 9 months -> position dropped")
    args = ap.parse_args()

    reader = csv.DictReader(sys.stdin)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(OUT_FIELDS)
    for n, row in enumerate(reader, start=2):
        try:
            out = compute(row, args.precise, args.max_age_days, args.nine_month_rule)
        except ValueError as e:
            print(f"line {n}: {e}", file=sys.stderr)
            out = {k: None for k in OUT_FIELDS[1:]}
        writer.writerow([row.get("id", "")] + [fmt(out[k], args.precise) for k in OUT_FIELDS[1:]])


if __name__ == "__main__":
    main()
