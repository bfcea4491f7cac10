//! `--config.check`: exit 0 with a summary for a valid file; exit 2 with `file:line:column`
//! and the key for each kind of mistake, one file per mistake.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tls.yml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_watchkeeper-tls"))
        .arg("--config.file")
        .arg(&path)
        .arg("--config.check")
        .output()
        .unwrap();
    let shown =
        |b: &[u8]| String::from_utf8_lossy(b).replace(&path.display().to_string(), "tls.yml");
    (
        out.status.code().unwrap_or(-1),
        shown(&out.stdout),
        shown(&out.stderr),
    )
}

#[test]
fn valid_file_prints_a_summary() {
    let (code, out, err) = check(
        "files:\n  - /etc/ssl/private/*.pem\n  - /etc/kubernetes/**/*.crt\nendpoints:\n  - 127.0.0.1:8443\n  - target: mail.example.com:25\n    starttls: smtp\n    server_name: mail.example.com\nmodules:\n  smtp:\n    starttls: smtp\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "tls.yml: OK (2 file patterns, 2 endpoints, 1 modules)"
    );
}

#[test]
fn each_mistake_names_its_place() {
    let cases: &[(&str, &str)] = &[
        (
            "endpoints:\n  - target: a.test:25\n    startls: smtp\n",
            "error: tls.yml:3:5: unknown field `startls`",
        ),
        (
            "endpoints:\n  - a.test\n",
            "error: tls.yml:2:5: invalid target \"a.test\": expected host:port",
        ),
        (
            "endpoints:\n  - target: a.test:25\n    starttls: smtps\n",
            "error: tls.yml:3:15: unknown variant `smtps`",
        ),
        (
            "files:\n  - '/etc/[x'\n",
            "error: tls.yml:2:5: files: invalid glob",
        ),
        (
            "probe:\n  concurrency: 0\n",
            "error: tls.yml:2:16: probe.concurrency: 0 is out of range",
        ),
        (
            "labels:\n  subject: [CN, SN]\n",
            "error: tls.yml:2:17: unknown variant `SN`",
        ),
        (
            "endpoint:\n  - a.test:1\n",
            "error: tls.yml:1:1: unknown field `endpoint`",
        ),
        (
            "endpoints:\n  - target: a.test:25\n    ca_file: /nonexistent/ca.pem\n",
            "error: tls.yml:3:14: /nonexistent/ca.pem: No such file or directory",
        ),
        (
            "endpoints:\n  - target: a.test:25\n    cert_file: /etc/passwd\n",
            "error: tls.yml: endpoints[0].cert_file: cert_file and key_file must be set together",
        ),
        (
            "endpoints:\n  - target: a.test:25\n    ca_file: /etc/passwd\n",
            "error: tls.yml: endpoints[0].ca_file: /etc/passwd: ",
        ),
        (
            "endpoints:\n  - a.test:443\n  - target: a.test:443\n    server_name: b.test\n",
            "error: tls.yml: endpoints[1]: \"a.test:443\" is already endpoints[0]; give one of them a distinct `name`",
        ),
        (
            "modules:\n  m:\n    server_name: 'bad name!'\n",
            "error: tls.yml: modules.m.server_name: \"bad name!\"",
        ),
    ];
    for (text, want) in cases {
        let (code, _, err) = check(text);
        assert_eq!(code, 2, "{text:?}: {err}");
        assert!(
            err.starts_with(want),
            "{text:?}:\n got: {err}\nwant: {want}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
