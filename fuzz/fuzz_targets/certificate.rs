//! Certificates and revocation lists from peers: the facility path in the subject
//! alternative name, the check against the district CA, and the CRL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::keys;
use simpul_trust::facility_of_der;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let authority = &keys().district.authority;
    let facility = facility_of_der(data);
    if let Ok(certified) = authority.certify(data) {
        assert_eq!(
            Ok(&certified.facility),
            facility.as_ref(),
            "a certified key's facility is the one its certificate names"
        );
    }
    let _ = authority.revocations(data);
    let mut book = keys().district.keybook(&[]);
    let _ = book.learn(data);
});
