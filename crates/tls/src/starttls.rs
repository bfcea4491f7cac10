//! The plain-text exchanges that upgrade a connection to TLS (STARTTLS and its relatives).
//!
//! Every read is bounded in size; the caller bounds the time.

use crate::config::Starttls;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes one server answer may take before we give up.
const MAX_ANSWER: usize = 16 * 1024;

/// Why the upgrade failed.
#[derive(Debug, thiserror::Error)]
pub enum StarttlsError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered something else than expected.
    #[error("{protocol}: unexpected answer {answer:?} (expected {expected})")]
    Unexpected {
        /// The protocol.
        protocol: &'static str,
        /// What we waited for.
        expected: &'static str,
        /// The start of what came (at most 80 characters).
        answer: String,
    },
    /// The server does not offer TLS.
    #[error("{0}: the server does not offer TLS")]
    NotOffered(&'static str),
}

fn unexpected(protocol: &'static str, expected: &'static str, answer: &[u8]) -> StarttlsError {
    let text = String::from_utf8_lossy(answer);
    StarttlsError::Unexpected {
        protocol,
        expected,
        answer: text.trim_end().chars().take(80).collect(),
    }
}

/// Reads CRLF-terminated lines until `done` says the answer is complete; returns all of it.
struct Lines<'a, S> {
    stream: &'a mut S,
    buf: Vec<u8>,
}

impl<'a, S: AsyncRead + Unpin> Lines<'a, S> {
    fn new(stream: &'a mut S) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// One line (without CRLF).
    async fn line(&mut self) -> Result<String, StarttlsError> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.buf.len() > MAX_ANSWER {
                return Err(unexpected("starttls", "a line", &self.buf));
            }
            let mut chunk = [0u8; 1024];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(StarttlsError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed during STARTTLS",
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A reply in SMTP/FTP style (`250-...` continues, `250 ...` ends); returns its code and
    /// all its lines.
    async fn reply(&mut self) -> Result<(String, Vec<String>), StarttlsError> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let line = self.line().await?;
            total += line.len();
            if total > MAX_ANSWER {
                return Err(unexpected("starttls", "a short reply", line.as_bytes()));
            }
            let done = line.len() < 4 || line.as_bytes()[3] != b'-';
            lines.push(line);
            if done {
                let code = lines
                    .last()
                    .map(|l| l.chars().take(3).collect())
                    .unwrap_or_default();
                return Ok((code, lines));
            }
        }
    }
}

/// Performs the upgrade for `protocol`; `host` is the name given to protocols that need one
/// (XMPP's stream `to`, SMTP's EHLO is ours).
pub async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    protocol: Starttls,
    host: &str,
) -> Result<(), StarttlsError> {
    match protocol {
        Starttls::Smtp => smtp(stream).await,
        Starttls::Ftp => ftp(stream).await,
        Starttls::Imap => imap(stream).await,
        Starttls::Pop3 => pop3(stream).await,
        Starttls::Postgres => postgres(stream).await,
        Starttls::Mysql => mysql(stream).await,
        Starttls::Ldap => ldap(stream).await,
        Starttls::Xmpp => xmpp(stream, host).await,
    }
}

async fn smtp<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    let greeting = {
        let mut r = Lines::new(s);
        r.reply().await?
    };
    if greeting.0 != "220" {
        return Err(unexpected(
            "smtp",
            "220 greeting",
            greeting.1.join("\n").as_bytes(),
        ));
    }
    s.write_all(b"EHLO watchkeeper-tls\r\n").await?;
    let ehlo = Lines::new(s).reply().await?;
    if ehlo.0 != "250" {
        return Err(unexpected(
            "smtp",
            "250 to EHLO",
            ehlo.1.join("\n").as_bytes(),
        ));
    }
    if !ehlo.1.iter().any(|l| {
        l.get(4..)
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("STARTTLS"))
    }) {
        return Err(StarttlsError::NotOffered("smtp"));
    }
    s.write_all(b"STARTTLS\r\n").await?;
    let go = Lines::new(s).reply().await?;
    if go.0 != "220" {
        return Err(unexpected(
            "smtp",
            "220 to STARTTLS",
            go.1.join("\n").as_bytes(),
        ));
    }
    Ok(())
}

async fn ftp<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    let greeting = Lines::new(s).reply().await?;
    if greeting.0 != "220" {
        return Err(unexpected(
            "ftp",
            "220 greeting",
            greeting.1.join("\n").as_bytes(),
        ));
    }
    s.write_all(b"AUTH TLS\r\n").await?;
    let go = Lines::new(s).reply().await?;
    match go.0.as_str() {
        "234" => Ok(()),
        "502" | "504" | "534" => Err(StarttlsError::NotOffered("ftp")),
        _ => Err(unexpected(
            "ftp",
            "234 to AUTH TLS",
            go.1.join("\n").as_bytes(),
        )),
    }
}

async fn imap<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    let greeting = Lines::new(s).line().await?;
    if !greeting.starts_with("* OK") {
        return Err(unexpected("imap", "* OK greeting", greeting.as_bytes()));
    }
    s.write_all(b"wk1 STARTTLS\r\n").await?;
    let mut r = Lines::new(s);
    for _ in 0..32 {
        let line = r.line().await?;
        if let Some(rest) = line.strip_prefix("wk1 ") {
            if rest.starts_with("OK") {
                return Ok(());
            }
            return Err(StarttlsError::NotOffered("imap"));
        }
    }
    Err(unexpected(
        "imap",
        "a tagged answer",
        b"too many untagged lines",
    ))
}

async fn pop3<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    let greeting = Lines::new(s).line().await?;
    if !greeting.starts_with("+OK") {
        return Err(unexpected("pop3", "+OK greeting", greeting.as_bytes()));
    }
    s.write_all(b"STLS\r\n").await?;
    let go = Lines::new(s).line().await?;
    if go.starts_with("+OK") {
        Ok(())
    } else if go.starts_with("-ERR") {
        Err(StarttlsError::NotOffered("pop3"))
    } else {
        Err(unexpected("pop3", "+OK to STLS", go.as_bytes()))
    }
}

async fn postgres<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    // SSLRequest: length 8, code 80877103.
    s.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]).await?;
    let mut answer = [0u8; 1];
    s.read_exact(&mut answer).await?;
    match answer[0] {
        b'S' => Ok(()),
        b'N' => Err(StarttlsError::NotOffered("postgres")),
        _ => Err(unexpected("postgres", "S or N", &answer)),
    }
}

/// MySQL capability flags.
const CLIENT_PROTOCOL_41: u32 = 0x0200;
const CLIENT_SSL: u32 = 0x0800;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;

async fn mysql<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    if len == 0 || len > MAX_ANSWER {
        return Err(unexpected("mysql", "a handshake packet", &header));
    }
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await?;
    // Protocol version 10, server version (NUL-terminated), thread id (4), auth data (8), filler
    // (1), capability flags lower 2 bytes.
    if payload[0] == 0xff {
        return Err(unexpected(
            "mysql",
            "a handshake packet",
            &payload[..payload.len().min(64)],
        ));
    }
    if payload[0] != 10 {
        return Err(unexpected("mysql", "protocol version 10", &payload[..1]));
    }
    let nul = payload[1..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| unexpected("mysql", "a server version", b""))?;
    let caps_at = 1 + nul + 1 + 4 + 8 + 1;
    let caps = payload
        .get(caps_at..caps_at + 2)
        .map(|b| u32::from(b[0]) | u32::from(b[1]) << 8)
        .ok_or_else(|| unexpected("mysql", "capability flags", b""))?;
    if caps & CLIENT_SSL == 0 {
        return Err(StarttlsError::NotOffered("mysql"));
    }
    // SSLRequest: capabilities (4), max packet (4), charset utf8mb4 (1), 23 zero bytes.
    let ours = CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION;
    let mut packet = vec![32, 0, 0, header[3].wrapping_add(1)];
    packet.extend_from_slice(&ours.to_le_bytes());
    packet.extend_from_slice(&(16u32 << 20).to_le_bytes());
    packet.push(45);
    packet.extend_from_slice(&[0u8; 23]);
    s.write_all(&packet).await?;
    Ok(())
}

const LDAP_STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";

async fn ldap<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> Result<(), StarttlsError> {
    // LDAPMessage { messageID 1, extendedReq [APPLICATION 23] { requestName [0] OID } }
    let mut req = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
    req.extend_from_slice(LDAP_STARTTLS_OID);
    s.write_all(&req).await?;
    // The response: SEQUENCE, length (short or long form), then the body.
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    if head[0] != 0x30 {
        return Err(unexpected("ldap", "an LDAPMessage", &head));
    }
    let len = if head[1] & 0x80 == 0 {
        usize::from(head[1])
    } else {
        let n = usize::from(head[1] & 0x7f);
        if n == 0 || n > 2 {
            return Err(unexpected("ldap", "a short LDAPMessage", &head));
        }
        let mut l = [0u8; 2];
        s.read_exact(&mut l[..n]).await?;
        l[..n].iter().fold(0usize, |a, &b| a << 8 | usize::from(b))
    };
    if len > MAX_ANSWER {
        return Err(unexpected("ldap", "a short LDAPMessage", &head));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await?;
    // messageID INTEGER, then [APPLICATION 24] ExtendedResponse whose first element is the
    // resultCode ENUMERATED.
    let code = body
        .windows(3)
        .position(|w| w[0] == 0x0a && w[1] == 0x01)
        .and_then(|i| body.get(i + 2).copied());
    if !body.contains(&0x78) {
        return Err(unexpected(
            "ldap",
            "an ExtendedResponse",
            &body[..body.len().min(32)],
        ));
    }
    match code {
        Some(0) => Ok(()),
        Some(_) => Err(StarttlsError::NotOffered("ldap")),
        None => Err(unexpected(
            "ldap",
            "a resultCode",
            &body[..body.len().min(32)],
        )),
    }
}

async fn read_until<S: AsyncRead + Unpin>(
    s: &mut S,
    needles: &[&[u8]],
) -> Result<(usize, Vec<u8>), StarttlsError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        for (i, n) in needles.iter().enumerate() {
            if buf.windows(n.len()).any(|w| w == *n) {
                return Ok((i, buf));
            }
        }
        if buf.len() > MAX_ANSWER {
            return Err(unexpected("xmpp", "stream features", &buf[..80]));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(StarttlsError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during STARTTLS",
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn xmpp<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    host: &str,
) -> Result<(), StarttlsError> {
    let domain: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        .collect();
    let open = format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    );
    s.write_all(open.as_bytes()).await?;
    let (_, features) = read_until(s, &[b"</stream:features>"]).await?;
    if !features.windows(9).any(|w| w == b"<starttls") {
        return Err(StarttlsError::NotOffered("xmpp"));
    }
    s.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await?;
    let (which, answer) = read_until(s, &[b"<proceed", b"<failure"]).await?;
    if which == 0 {
        Ok(())
    } else {
        Err(unexpected(
            "xmpp",
            "<proceed/>",
            &answer[..answer.len().min(80)],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(
        protocol: Starttls,
        script: &'static [(&'static [u8], &'static [u8])],
    ) -> Result<(), StarttlsError> {
        let (mut client, mut server) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            for (expect, answer) in script {
                let mut got = vec![0u8; expect.len()];
                if !expect.is_empty() {
                    server.read_exact(&mut got).await.unwrap();
                    assert_eq!(&got, expect, "{}", String::from_utf8_lossy(&got));
                }
                server.write_all(answer).await.unwrap();
            }
            server
        });
        let r = negotiate(&mut client, protocol, "mail.test").await;
        drop(server.await);
        r
    }

    #[tokio::test]
    async fn line_protocols() {
        run(
            Starttls::Smtp,
            &[
                (b"", b"220-hello\r\n220 there\r\n"),
                (
                    b"EHLO watchkeeper-tls\r\n",
                    b"250-mail\r\n250-SIZE 1\r\n250 STARTTLS\r\n",
                ),
                (b"STARTTLS\r\n", b"220 go\r\n"),
            ],
        )
        .await
        .unwrap();
        let e = run(
            Starttls::Smtp,
            &[
                (b"", b"220 hi\r\n"),
                (b"EHLO watchkeeper-tls\r\n", b"250 mail\r\n"),
            ],
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StarttlsError::NotOffered("smtp")), "{e}");
        run(
            Starttls::Imap,
            &[
                (b"", b"* OK ready\r\n"),
                (b"wk1 STARTTLS\r\n", b"wk1 OK begin\r\n"),
            ],
        )
        .await
        .unwrap();
        run(
            Starttls::Pop3,
            &[(b"", b"+OK pop\r\n"), (b"STLS\r\n", b"+OK go\r\n")],
        )
        .await
        .unwrap();
        run(
            Starttls::Ftp,
            &[(b"", b"220 ftp\r\n"), (b"AUTH TLS\r\n", b"234 go\r\n")],
        )
        .await
        .unwrap();
        run(
            Starttls::Postgres,
            &[(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], b"S")],
        )
        .await
        .unwrap();
        let e = run(
            Starttls::Postgres,
            &[(&[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], b"N")],
        )
        .await
        .unwrap_err();
        assert!(matches!(e, StarttlsError::NotOffered("postgres")), "{e}");
        let e = run(Starttls::Smtp, &[(b"", b"\x16\x03\x01garbage\r\n")])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("220 greeting"), "{e}");
    }

    #[tokio::test]
    async fn ldap_and_xmpp() {
        let mut req = vec![0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16];
        req.extend_from_slice(LDAP_STARTTLS_OID);
        let req: &'static [u8] = Box::leak(req.into_boxed_slice());
        run(
            Starttls::Ldap,
            Box::leak(Box::new([(
                req,
                &[
                    0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04,
                    0x00,
                ][..],
            )])),
        )
        .await
        .unwrap();
        let (mut client, mut server) = tokio::io::duplex(4096);
        let t = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let _ = server.read(&mut buf).await.unwrap();
            server.write_all(b"<stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>").await.unwrap();
            let _ = server.read(&mut buf).await.unwrap();
            server
                .write_all(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                .await
                .unwrap();
            server
        });
        negotiate(&mut client, Starttls::Xmpp, "chat.test")
            .await
            .unwrap();
        drop(t.await);
    }
}
