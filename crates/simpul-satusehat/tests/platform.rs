//! The platform client against a local stand-in of SATUSEHAT: tokens, patient
//! matching, and what it does when the platform or the link misbehaves.

use std::time::Duration;

use simpul_satusehat::standin::{CLIENT_ID, CLIENT_SECRET, Fault, Person, StandIn};
use simpul_satusehat::{Newborn, Platform, PlatformConfig, PlatformError, RetryPolicy, Secret};

const MOTHER: &str = "3273014107900003";

fn people() -> Vec<Person> {
    vec![
        Person {
            ihs: "P02478375538".into(),
            nik: Some("9271060312000001".into()),
            nik_ibu: None,
            birth_date: "1990-07-01".into(),
        },
        // Twins, and their older sister, all found by their mother's NIK.
        Person {
            ihs: "P10000000001".into(),
            nik: None,
            nik_ibu: Some(MOTHER.into()),
            birth_date: "2026-11-20".into(),
        },
        Person {
            ihs: "P10000000002".into(),
            nik: None,
            nik_ibu: Some(MOTHER.into()),
            birth_date: "2026-11-20".into(),
        },
        Person {
            ihs: "P10000000003".into(),
            nik: None,
            nik_ibu: Some(MOTHER.into()),
            birth_date: "2023-02-14".into(),
        },
    ]
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
    }
}

fn platform(standin: &StandIn, secret: &str) -> Platform {
    let config = PlatformConfig {
        auth_url: standin.auth_url(),
        fhir_url: standin.fhir_url(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        organization: "10000004".into(),
        register_newborns: true,
    };
    Platform::new(config, quick()).expect("config")
}

#[test]
fn a_person_is_found_by_nik_and_a_newborn_by_the_mothers_nik_and_birth_date() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    let found = platform
        .patients_by_nik("9271060312000001")
        .expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ihs, "P02478375538");
    assert!(
        platform
            .patients_by_nik("3273010101900001")
            .expect("search")
            .is_empty()
    );
    let twins: Vec<String> = platform
        .newborns(MOTHER, "2026-11-20")
        .expect("search")
        .into_iter()
        .map(|p| p.ihs)
        .collect();
    assert_eq!(twins, ["P10000000001", "P10000000002"]);
    // One token served all three searches.
    assert_eq!(standin.tokens_issued(), 1);
}

#[test]
fn tokens_are_renewed_before_they_expire_and_when_the_platform_ends_them() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    standin.token_lifetime(2);
    platform.patients_by_nik("9271060312000001").expect("first");
    assert_eq!(standin.tokens_issued(), 1);
    // Renewed at half a short lifetime: no request goes out with a dying token.
    std::thread::sleep(Duration::from_millis(1_100));
    platform
        .patients_by_nik("9271060312000001")
        .expect("after a second");
    assert_eq!(standin.tokens_issued(), 2);
    // Ended early by the platform: the 401 is answered with a new token, once.
    standin.token_lifetime(3599);
    standin.revoke_tokens();
    platform
        .patients_by_nik("9271060312000001")
        .expect("after revocation");
    assert_eq!(standin.tokens_issued(), 3);
}

#[test]
fn rate_limits_5xx_and_dropped_connections_are_retried_and_then_reported() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    standin.inject(&[Fault::Unavailable, Fault::RateLimited, Fault::Dropped]);
    let found = platform
        .patients_by_nik("9271060312000001")
        .expect("after three faults");
    assert_eq!(found[0].ihs, "P02478375538");
    // The faults met the token request (it is a request like any other): three
    // failures, the token, then the answer.
    assert_eq!(standin.requests(), 5);

    // A platform that keeps asking to wait 0 s is still asked only `attempts` times.
    let before = standin.requests();
    standin.inject(&[Fault::RateLimited; 10]);
    let err = platform
        .patients_by_nik("9271060312000001")
        .expect_err("rate limited throughout");
    assert!(err.is_transient(), "{err}");
    assert_eq!(standin.requests() - before, 4);
    standin.clear_faults();

    standin.inject(&[Fault::Unavailable; 4]);
    let err = platform
        .patients_by_nik("9271060312000001")
        .expect_err("every attempt failed");
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string()
            .contains("unavailable (4 attempts; last: HTTP 503: Service Unavailable)"),
        "{err}"
    );
}

#[test]
fn refusals_say_what_the_platform_objected_to_and_are_not_retried() {
    let standin = StandIn::start(people());
    let wrong = platform(&standin, "not-the-secret");
    let err = wrong
        .patients_by_nik("9271060312000001")
        .expect_err("bad secret");
    assert!(matches!(err, PlatformError::Credentials(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("either client_id or client_secret"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-the-secret"), "{err}");
    assert_eq!(standin.requests(), 1, "a refusal is not retried");
}

#[test]
fn a_request_the_platform_refuses_says_why_and_is_not_retried() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    platform
        .patients_by_nik("9271060312000001")
        .expect("token and a search");
    let before = standin.requests();
    standin.inject(&[Fault::Invalid]);
    let err = platform
        .patients_by_nik("9271060312000001")
        .expect_err("refused");
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "SATUSEHAT refused the request (HTTP 400): Reference is mandatory : \
         Encounter.serviceProvider (RuleNumber: 10124)"
    );
    assert_eq!(standin.requests() - before, 1, "not retried");
}

#[test]
fn a_newborn_the_platform_lacks_is_registered_once() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    let child = Newborn {
        nik_ibu: MOTHER,
        name: "Bayi Ny. Dewi",
        gender: "female",
        birth_date: "2026-12-01",
        birth_order: Some(1),
    };
    assert!(
        platform
            .newborns(MOTHER, "2026-12-01")
            .expect("search")
            .is_empty()
    );
    let ihs = platform.register_newborn(&child).expect("registered");
    let found = platform.newborns(MOTHER, "2026-12-01").expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].ihs, ihs);
    // A second registration is refused as a duplicate, saying so.
    let err = platform.register_newborn(&child).expect_err("duplicate");
    assert!(
        err.to_string()
            .contains("Found duplicate resource: Patient"),
        "{err}"
    );
    // A create whose answer is lost is not sent again (it may have been taken).
    let before = standin.requests();
    standin.inject(&[Fault::Dropped]);
    let other = Newborn {
        birth_date: "2026-12-02",
        ..child
    };
    let err = platform.register_newborn(&other).expect_err("answer lost");
    assert!(err.is_transient(), "{err}");
    assert_eq!(standin.requests() - before, 1, "sent once");
}

#[test]
fn a_health_worker_is_found_as_a_practitioner_by_nik() {
    let standin = StandIn::start(people());
    let platform = platform(&standin, CLIENT_SECRET);
    let (nik, id) = simpul_satusehat::standin::PRACTITIONERS[0];
    assert_eq!(
        platform.practitioner_by_nik(nik).expect("search"),
        Some(id.to_string())
    );
    assert_eq!(
        platform
            .practitioner_by_nik("3273015208900003")
            .expect("search"),
        None
    );
}
