//! Indonesian names and streets.

use rand::{Rng, RngExt};
use simpul_model::Sex;

const FEMALE: &[&str] = &[
    "Siti",
    "Dewi",
    "Sri",
    "Nur",
    "Putri",
    "Ayu",
    "Rina",
    "Wulan",
    "Fitri",
    "Indah",
    "Ratna",
    "Lestari",
    "Yuliani",
    "Kartika",
    "Anisa",
    "Nurul",
    "Rahmawati",
    "Maya",
    "Intan",
    "Dian",
    "Sari",
    "Wahyuni",
    "Aisyah",
    "Fatimah",
    "Novi",
    "Eka",
    "Rini",
    "Endang",
    "Tuti",
    "Yanti",
];
const MALE: &[&str] = &[
    "Agus", "Budi", "Joko", "Slamet", "Ahmad", "Muhammad", "Dedi", "Rudi", "Eko", "Hendra",
    "Bambang", "Wahyu", "Rizky", "Fajar", "Andi", "Dimas", "Yusuf", "Hadi", "Teguh", "Arif",
    "Imam", "Asep", "Ujang", "Dadang", "Iwan", "Bayu", "Gilang", "Reza", "Irfan", "Sutrisno",
];
const SECOND: &[&str] = &[
    "Rahayu",
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Kusuma",
    "Pratama",
    "Setiawan",
    "Nugroho",
    "Susanti",
    "Permata",
    "Lubis",
    "Siregar",
    "Nasution",
    "Hasibuan",
    "Sembiring",
    "Simanjuntak",
    "Sitompul",
    "Purnama",
    "Maharani",
    "Anggraini",
    "Firmansyah",
    "Gunawan",
    "Kurniawan",
    "Hakim",
    "Ramadhan",
    "Suryani",
    "Wibowo",
    "Utami",
    "Handayani",
];
const STREETS: &[&str] = &[
    "Merdeka",
    "Sudirman",
    "Diponegoro",
    "Kartini",
    "Pahlawan",
    "Melati",
    "Mawar",
    "Kenanga",
    "Cempaka",
    "Flamboyan",
    "Veteran",
    "Gatot Subroto",
    "Ahmad Yani",
    "Pemuda",
    "Kebon Jeruk",
];

fn pick<'a>(rng: &mut impl Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// A plausible full name.
pub(crate) fn full_name(rng: &mut impl Rng, sex: Sex) -> String {
    let first = pick(rng, if sex == Sex::Female { FEMALE } else { MALE });
    if rng.random_bool(0.15) {
        first.to_string()
    } else {
        format!("{first} {}", pick(rng, SECOND))
    }
}

/// A street name.
pub(crate) fn street(rng: &mut impl Rng) -> &'static str {
    pick(rng, STREETS)
}
