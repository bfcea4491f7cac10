//! The hop limit (IPv4 TTL) of a received ICMP reply, from ancillary data.
//!
//! A raw IPv4 socket hands over the IP header, so the TTL is read from the packet. Datagram
//! ICMP sockets and every IPv6 socket do not: the kernel reports the value only as a control
//! message (`IP_TTL` after `IP_RECVTTL`, `IPV6_HOPLIMIT` after `IPV6_RECVHOPLIMIT`), which
//! needs `recvmsg(2)`. Neither rustix (its ancillary buffer only decodes `SCM_RIGHTS` and
//! credentials) nor socket2 (it has no `IP_RECVTTL` setter and hands the control buffer back
//! as uninitialised memory) can do this without `unsafe`, so this module holds the crate's only
//! two audited `unsafe` blocks, each a single libc call on memory owned by the caller. Parsing
//! the control messages is plain safe code over a byte slice.

use socket2::Socket;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// Asks the kernel to attach the reply's hop limit to every received packet.
pub fn enable(socket: &Socket, v4: bool) -> io::Result<()> {
    if v4 {
        enable_recvttl(socket.as_fd())
    } else {
        socket.set_recv_hoplimit_v6(true)
    }
}

/// `setsockopt(fd, IPPROTO_IP, IP_RECVTTL, 1)`: no safe wrapper exists in our dependencies.
#[allow(unsafe_code)]
fn enable_recvttl(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `fd` is a live descriptor borrowed for the call; the option value points to a
    // `c_int` on this stack frame and its exact size is passed, which is what IP_RECVTTL
    // reads. The kernel copies the value and keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_RECVTTL,
            std::ptr::from_ref(&on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Room for one `IP_TTL`/`IPV6_HOPLIMIT` message and a spare one (a kernel may add others,
/// which are skipped; a truncated buffer only loses the hop limit, never the packet).
const CONTROL_LEN: usize = 128;

/// Receives one datagram into `buf` without blocking; returns its length and the hop limit if
/// the kernel attached one. `WouldBlock` when nothing is queued (for tokio's readiness loop).
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<u8>)> {
    let mut control = [0u8; CONTROL_LEN];
    let (n, control_len) = recvmsg(fd, buf, &mut control)?;
    Ok((n, parse(&control[..control_len.min(CONTROL_LEN)])))
}

/// One `recvmsg(2)` with a single data buffer and a control buffer, both initialised slices.
#[allow(unsafe_code)]
fn recvmsg(fd: BorrowedFd<'_>, buf: &mut [u8], control: &mut [u8]) -> io::Result<(usize, usize)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero `msghdr` is valid (null name, no buffers; musl's padding fields are
    // private, hence `zeroed` rather than a literal). The pointers set below refer to `iov`,
    // `buf` and `control`, which outlive the call and are exclusively borrowed for it; the
    // lengths are those of the slices, so the kernel writes only inside them. MSG_DONTWAIT
    // keeps the call from blocking the runtime thread.
    let (n, control_len) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        (n, msg.msg_controllen as usize)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, control_len))
}

/// `cmsg_len` is a `size_t` in glibc and a `socklen_t` (followed by padding) in musl.
#[cfg(not(target_env = "musl"))]
type CmsgLen = usize;
#[cfg(target_env = "musl")]
type CmsgLen = u32;

/// `CMSG_ALIGN`: control messages and their data start on `size_t` boundaries.
fn align(len: usize) -> usize {
    let a = std::mem::size_of::<usize>();
    len.div_ceil(a) * a
}

/// Finds an `IP_TTL` or `IPV6_HOPLIMIT` message (an `int` each) in a received control buffer.
fn parse(control: &[u8]) -> Option<u8> {
    use std::mem::{offset_of, size_of};
    let header = align(size_of::<libc::cmsghdr>());
    let len_at = offset_of!(libc::cmsghdr, cmsg_len);
    let level_at = offset_of!(libc::cmsghdr, cmsg_level);
    let type_at = offset_of!(libc::cmsghdr, cmsg_type);
    let int = |b: &[u8], at: usize| -> Option<i32> {
        Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let mut rest = control;
    while rest.len() >= header {
        let len_bytes = rest.get(len_at..len_at + size_of::<CmsgLen>())?;
        let len = CmsgLen::from_ne_bytes(len_bytes.try_into().ok()?) as usize;
        if len < header || len > rest.len() {
            return None;
        }
        let (level, kind) = (int(rest, level_at)?, int(rest, type_at)?);
        let wanted = (level == libc::IPPROTO_IP && kind == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && kind == libc::IPV6_HOPLIMIT);
        if wanted && len >= header + 4 {
            return u8::try_from(int(rest, header)?).ok();
        }
        rest = rest.get(align(len)..).unwrap_or_default();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control message as the kernel lays it out.
    fn message(level: i32, kind: i32, value: i32) -> Vec<u8> {
        use std::mem::{offset_of, size_of};
        let header = align(size_of::<libc::cmsghdr>());
        let len = header + 4;
        let mut m = vec![0u8; align(len)];
        let at = offset_of!(libc::cmsghdr, cmsg_len);
        m[at..at + size_of::<CmsgLen>()].copy_from_slice(&(len as CmsgLen).to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_level);
        m[at..at + 4].copy_from_slice(&level.to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_type);
        m[at..at + 4].copy_from_slice(&kind.to_ne_bytes());
        m[header..header + 4].copy_from_slice(&value.to_ne_bytes());
        m
    }

    #[test]
    fn finds_the_hop_limit_among_other_messages() {
        let mut buf = message(libc::SOL_SOCKET, 99, 7);
        buf.extend(message(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 63));
        assert_eq!(parse(&buf), Some(63));
        assert_eq!(
            parse(&message(libc::IPPROTO_IP, libc::IP_TTL, 255)),
            Some(255)
        );
        assert_eq!(parse(&message(libc::SOL_SOCKET, 99, 7)), None);
        assert_eq!(parse(&[]), None);
        // A length pointing past the buffer (truncation) is ignored, not trusted.
        let whole = message(libc::IPPROTO_IP, libc::IP_TTL, 64);
        assert_eq!(parse(&whole[..whole.len() - 8]), None);
    }

    #[test]
    fn a_udp_socket_reports_the_ttl_of_a_received_datagram() {
        // UDP takes the same IP_RECVTTL/IPV6_RECVHOPLIMIT path as ICMP and needs no privilege.
        for (v4, addr) in [(true, "127.0.0.1:0"), (false, "[::1]:0")] {
            let rx = std::net::UdpSocket::bind(addr).unwrap();
            let tx = std::net::UdpSocket::bind(addr).unwrap();
            if v4 {
                tx.set_ttl(42).unwrap();
            } else {
                socket2::SockRef::from(&tx).set_unicast_hops_v6(42).unwrap();
            }
            let rx = Socket::from(rx);
            enable(&rx, v4).unwrap();
            tx.send_to(b"ping", rx.local_addr().unwrap().as_socket().unwrap())
                .unwrap();
            let mut buf = [0u8; 16];
            // `recv` never blocks; loopback delivery is immediate, so a short bounded poll.
            let got = (0..400)
                .find_map(|_| match recv(rx.as_fd(), &mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        None
                    }
                    other => Some(other.unwrap()),
                })
                .expect("the datagram arrives");
            assert_eq!(got, (4, Some(42)), "v4={v4}");
        }
    }
}
