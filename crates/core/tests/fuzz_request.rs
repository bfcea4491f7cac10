//! Property-based fuzzing of what core parses from a request: the `Accept` and
//! `Accept-Encoding` headers, the scrape-timeout header, `/probe` query strings, listen
//! addresses and durations. Every input is arbitrary; the properties are "never panics" plus the
//! invariant each parser promises. Cases: proptest's `PROPTEST_CASES` (default 256 here;
//! scripts/fuzz-long.sh raises it).

use proptest::prelude::*;
use std::time::Duration;
use watchkeeper_core::config::PromDuration;
use watchkeeper_core::exposition::{accepts_gzip, Format};
use watchkeeper_core::listen::ListenAddress;
use watchkeeper_core::probe::{percent_decode, ProbeQuery};
use watchkeeper_core::ScrapeTimeout;

fn config() -> ProptestConfig {
    ProptestConfig {
        // Respect PROPTEST_CASES when set (the long run), else a small bounded default.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Header-like text: mostly the characters these headers are made of, sometimes anything.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z/*+;=,. 0-9qQ\\-]{0,64}",
        any::<String>(),
        // Numbers as a scraper could send them, including absurd ones.
        "[-+]?[0-9]{0,30}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,4})?",
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e309".to_string()),
        Just("0.0000000000000000001".to_string()),
    ]
}

fn media_part() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("application/openmetrics-text"),
            Just("text/plain"),
            Just("*/*"),
            Just("text/*"),
            Just("application/json"),
            Just("APPLICATION/OPENMETRICS-TEXT"),
        ],
        proptest::option::of(header_text()),
        proptest::option::of("version=[0-9.]{0,6}"),
    )
        .prop_map(|(media, q, v)| {
            let mut s = media.to_string();
            if let Some(v) = v {
                s.push(';');
                s.push_str(&v);
            }
            if let Some(q) = q {
                s.push_str(";q=");
                s.push_str(&q);
            }
            s
        })
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..120_000).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_nanos),
        Just(Duration::MAX),
        Just(Duration::ZERO),
    ]
}

/// Found by `accept_encoding_never_panics`: `gzip;q=0.00` is a refusal (RFC 9110 qvalue allows
/// up to three decimals) but was read as an offer, because only three spellings of zero were
/// recognised.
#[test]
fn regression_every_spelling_of_q_zero_refuses_gzip() {
    for h in ["gzip;q=0.00", "gzip; Q=0", "*;q=0.00", "gzip;q=0.0"] {
        assert!(!accepts_gzip(Some(h)), "{h}");
    }
    for h in ["gzip", "gzip;q=0.001", "gzip;q=1", "br, gzip;q=0.5"] {
        assert!(accepts_gzip(Some(h)), "{h}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn accept_negotiation_never_panics(parts in proptest::collection::vec(media_part(), 0..6), junk in header_text()) {
        let header = parts.join(", ");
        let _ = Format::negotiate(Some(&header));
        let _ = Format::negotiate(Some(&junk));
        let with_junk = format!("{header},{junk}");
        let f = Format::negotiate(Some(&with_junk));
        prop_assert!(f == Format::Text || f == Format::OpenMetrics);
    }

    #[test]
    fn openmetrics_only_when_ranked_at_least_as_high(q_om in 0u32..=1000, q_text in 0u32..=1000) {
        let header = format!(
            "application/openmetrics-text;version=1.0.0;q={:.3},text/plain;version=0.0.4;q={:.3}",
            f64::from(q_om) / 1000.0,
            f64::from(q_text) / 1000.0
        );
        let want = if q_om > 0 && q_om >= q_text { Format::OpenMetrics } else { Format::Text };
        prop_assert_eq!(Format::negotiate(Some(&header)), want, "{}", header);
    }

    #[test]
    fn accept_encoding_never_panics(header in header_text(), enc in "(gzip|GZIP|\\*|br|identity)") {
        let _ = accepts_gzip(Some(&header));
        // An explicit refusal is honoured whatever else the header says about other codings.
        for q in ["0", "0.0", "0.00", "0.000"] {
            let refused = format!("{enc};q={q}");
            prop_assert!(!accepts_gzip(Some(&refused)), "{}", refused);
        }
        let offered = format!("{header}, gzip");
        prop_assert!(accepts_gzip(Some(&offered)));
    }

    #[test]
    fn scrape_timeout_budget_never_exceeds_the_cap(
        header in proptest::option::of(header_text()),
        offset in duration(),
        max in duration(),
        cap in proptest::option::of(duration()),
    ) {
        let t = ScrapeTimeout { offset, max };
        let budget = t.budget(header.as_deref(), cap);
        prop_assert!(budget <= max, "budget {budget:?} over max {max:?}");
        if let Some(cap) = cap.filter(|c| !c.is_zero()) {
            prop_assert!(budget <= cap, "budget {budget:?} over cap {cap:?}");
        }
        // A numeric header never allows more than the scraper itself waits.
        if let Some(secs) = header.as_deref().and_then(|h| h.trim().parse::<f64>().ok()) {
            if let Ok(d) = Duration::try_from_secs_f64(secs) {
                if !d.is_zero() {
                    prop_assert!(budget <= d, "budget {budget:?} over the header's {d:?}");
                }
            }
        }
        // The deadline built from it is reachable (no overflow panic).
        let _ = t.deadline(header.as_deref(), cap);
        let _ = t.less(offset).budget(header.as_deref(), cap);
    }

    #[test]
    fn probe_budget_is_bounded(
        header in proptest::option::of(header_text()),
        offset in duration(),
        max in duration(),
        spent in duration(),
        module in proptest::option::of(duration()),
    ) {
        let q = ProbeQuery {
            params: Vec::new(),
            timeout_header: header,
            scrape_timeout: ScrapeTimeout { offset, max },
            spent,
        };
        let budget = q.budget(module);
        let ceiling = match module.filter(|m| !m.is_zero()) {
            Some(m) => m.saturating_sub(spent),
            None => max,
        };
        // At least 1 ms so a probe always runs; otherwise never above the ceiling.
        prop_assert!(budget >= Duration::from_millis(1));
        prop_assert!(budget <= ceiling.max(Duration::from_millis(1)), "budget {budget:?} ceiling {ceiling:?}");
        let _ = q.deadline(module);
    }

    #[test]
    fn probe_query_parsing_never_panics(query in prop_oneof![any::<String>(), "[a-z%+=&0-9A-F.:/\\[\\]]{0,80}"]) {
        let params = ProbeQuery::parse_params(&query);
        // Never more parameters than `&`-separated pieces.
        prop_assert!(params.len() <= query.split('&').count());
        for (k, v) in &params {
            // Decoding never grows the text by more than the U+FFFD replacement of each byte.
            prop_assert!(k.len() + v.len() <= 3 * query.len());
        }
    }

    #[test]
    fn percent_decode_inverts_encoding(raw in any::<String>()) {
        let mut encoded = String::new();
        for b in raw.bytes() {
            encoded.push_str(&format!("%{b:02X}"));
        }
        prop_assert_eq!(percent_decode(&encoded), raw.clone());
        // Unreserved characters pass through untouched.
        let plain: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        prop_assert_eq!(percent_decode(&plain), plain.clone());
    }

    #[test]
    fn prom_duration_round_trips(ms in 0u64..10_000_000_000_000) {
        let d = PromDuration(Duration::from_millis(ms));
        let text = d.to_string();
        let back = PromDuration::parse(&text);
        prop_assert_eq!(back, Ok(d), "{}", text);
    }

    #[test]
    fn prom_duration_never_panics_on_junk(s in prop_oneof![
        any::<String>(),
        "[0-9]{0,25}(ms|s|m|h|d|w|y|x|)([0-9]{0,25}(ms|s|m|h|d|w|y|))*",
    ]) {
        match PromDuration::parse(&s) {
            Ok(d) => {
                // What parses prints as something that parses to the same value.
                prop_assert_eq!(PromDuration::parse(&d.to_string()), Ok(d));
            }
            Err(e) => prop_assert!(e.to_string().contains("invalid duration")),
        }
    }

    #[test]
    fn listen_address_never_panics(s in prop_oneof![
        any::<String>(),
        "(\\[[0-9a-f:]{0,20}\\]|[0-9.]{0,16}|[a-z.\\-]{0,20}|)(:[0-9]{0,7})?",
    ]) {
        match ListenAddress::parse(&s) {
            Ok(ListenAddress::Host(h, _)) => {
                prop_assert!(!h.is_empty());
                prop_assert!(!h.contains(':'));
            }
            Ok(_) => {}
            Err(e) => prop_assert_eq!(e.address, s),
        }
    }
}
