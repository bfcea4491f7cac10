//! One invalid blackbox.yml per failure, each with its exact message; and the reference
//! configurations shipped with blackbox_exporter load unchanged.

use std::path::{Path, PathBuf};
use watchkeeper_blackbox::config::Config;

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

fn error_of(name: &str) -> String {
    let path = fixture("invalid", name);
    let err = Config::load(&path).expect_err(name).to_string();
    // Messages start with the path as given; make them comparable.
    err.strip_prefix(&path.display().to_string())
        .unwrap_or(&err)
        .to_string()
}

#[test]
fn each_invalid_file_has_its_exact_message() {
    let cases: &[(&str, &str)] = &[
        (
            "bad_body_size_limit.yml",
            ":5:24: body_size_limit: invalid size \"10XB\": unknown unit \"XB\" (use B, KB, MB, GB, TB)",
        ),
        (
            "bad_header_match.yml",
            ":7:11: unknown field `regex`, expected one of header, regexp, allow_missing",
        ),
        (
            "bad_ip_protocol.yml",
            ":5:30: preferred_ip_protocol: \"ipv4\" is not ip4 or ip6",
        ),
        (
            "bad_query_type.yml",
            ":6:19: query_type: unknown DNS record type \"AAA\"",
        ),
        (
            "bad_rcode.yml",
            ":6:21: valid_rcodes: unknown DNS rcode \"NXDOMIAN\"",
        ),
        (
            "bad_regex.yml",
            ":7:11: invalid regular expression \"(unclosed\": unclosed group",
        ),
        (
            "bad_status_code.yml",
            ":5:27: valid_status_codes: \"two hundred\" is not an HTTP status code (100-599)",
        ),
        (
            "bad_timeout.yml",
            ":4:14: timeout: invalid duration \"5 seconds\": missing or unknown unit (use ms, s, m, h, d, w, y)",
        ),
        (
            "bad_transport.yml",
            ":6:27: transport_protocol: \"quic\" is not udp or tcp",
        ),
        (
            "bad_ttl.yml",
            ":5:12: ttl: 300 is outside the range 0..255",
        ),
        (
            "missing_query_name.yml",
            ": modules.dns.dns.query_name: required for prober dns",
        ),
        (
            "misspelt_http_option.yml",
            ":5:7: unknown field `fail_if_body_matches_regex`, expected one of valid_status_codes, valid_http_versions, method, headers, body_size_limit, compression, follow_redirects, no_follow_redirects, fail_if_ssl, fail_if_not_ssl, fail_if_body_matches_regexp, fail_if_body_not_matches_regexp, fail_if_header_matches, fail_if_header_not_matches, tls_config, basic_auth, bearer_token, bearer_token_file, authorization, proxy_url, skip_resolve_phase_with_proxy, enable_http2, preferred_ip_protocol, ip_protocol_fallback, body, oauth2, no_proxy, proxy_from_environment, proxy_connect_header, body_file, fail_if_body_json_matches_cel, fail_if_body_json_not_matches_cel, http_headers",
        ),
        (
            "misspelt_module_key.yml",
            ":4:5: unknown field `timout`, expected one of prober, timeout, http, tcp, dns, icmp, grpc, websocket, unix",
        ),
        (
            "not_a_mapping.yml",
            ":2:3: expected mapping start",
        ),
        (
            "password_and_file.yml",
            ": modules.http_2xx.http.basic_auth: at most one of password and password_file may be set",
        ),
        (
            "unknown_prober.yml",
            ":3:13: prober: unknown prober \"pingg\" (use http, tcp, dns, icmp or grpc)",
        ),
    ];
    let mut failures = Vec::new();
    for (file, want) in cases {
        let got = error_of(file);
        if got != *want {
            failures.push(format!("{file}:\n  want {want:?}\n  got  {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn secrets_never_appear_in_errors() {
    assert!(!error_of("password_and_file.yml").contains("secret-value"));
}

#[test]
fn blackbox_exporters_own_example_files_load_unchanged() {
    for name in ["blackbox.yml", "example.yml"] {
        let path = fixture("valid", name);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            config.unsupported().is_empty(),
            "{name}: {:?}",
            config.unsupported()
        );
        assert!(config.modules.len() >= 10, "{name}");
    }
    // example.yml names a CA file that does not exist here: a warning, not a load failure
    // (blackbox_exporter only notices when probing).
    let config = Config::load(&fixture("valid", "example.yml")).unwrap();
    let warnings = config.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "module \"http_custom_ca_example\": http.tls_config.ca_file: /certs/my_cert.crt"
        ),
        "{warnings:?}"
    );
}

#[test]
fn unsupported_options_load_and_are_listed_by_module() {
    let text = "modules:\n  cel:\n    prober: http\n    http:\n      fail_if_body_json_not_matches_cel: body.ok\n  dot:\n    prober: dns\n    dns:\n      query_name: a.example\n      dns_over_tls: true\n  eb:\n    prober: tcp\n    tcp:\n      query_response:\n        - expect_bytes: ab\n";
    let config = Config::parse(text, Path::new("blackbox.yml")).unwrap();
    assert_eq!(
        config.unsupported(),
        vec![
            "module \"cel\": http.fail_if_body_json_not_matches_cel is not supported".to_string(),
            "module \"eb\": tcp.query_response[0].expect_bytes is not supported".to_string(),
        ]
    );
}
