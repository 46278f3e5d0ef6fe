// Reads and writes simpul records with the JavaScript Automerge implementation,
// to show that our documents are standard Automerge.
//
//   node interop.cjs read FILE            prints {"heads": [...], "value": {...}}
//   node interop.cjs make FILE ID [bad]   writes a patient record made here
const fs = require("fs");
const Automerge = require("@automerge/automerge");

const [mode, file, id, bad] = process.argv.slice(2);
if (mode === "read") {
  const doc = Automerge.load(new Uint8Array(fs.readFileSync(file)));
  const value = JSON.parse(JSON.stringify(doc, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));
  process.stdout.write(JSON.stringify({ heads: Automerge.getHeads(doc), value }));
} else if (mode === "make") {
  const path = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
  // Whole numbers are JavaScript integers here; optional fields are simply absent.
  // Strings are scalars (ImmutableString), as the record schema says, not Text objects.
  const scalars = (v) =>
    typeof v === "string"
      ? new Automerge.ImmutableString(v)
      : Array.isArray(v)
        ? v.map(scalars)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, scalars(x)]))
          : v;
  const doc = Automerge.from(scalars({
    schema: 1,
    id,
    kind: "patient",
    scope: { audience: "up", paths: [path] },
    patient: {
      identifiers: { nik: bad ? "1234" : "3273011505240001" },
      name: "Bayu Pratama",
      sex: "M",
      birth_date: "2024-05-15",
      address: { village: "3273010001", rt: "002" },
      home_facility: path,
      visits: {
        "00000000000000a1": {
          date: "2026-10-05",
          facility: path,
          klaster: "ibu-anak",
          setting: "posyandu",
          recorded_by: "kader-js",
          measurements: { weight_kg: 12, height_cm: 86.5 },
          immunisations: [{ antigen: "MR", dose: 2 }],
          vitamin_a: false,
        },
      },
    },
  }));
  fs.writeFileSync(file, Automerge.save(doc));
  process.stdout.write(JSON.stringify({ heads: Automerge.getHeads(doc) }));
} else {
  process.stderr.write("usage: interop.cjs read FILE | make FILE ID [bad]\n");
  process.exit(2);
}
