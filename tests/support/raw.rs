//! A bare MQTT 3.1.1 client over a TCP socket, for what the command-line
//! clients cannot do: go silent past the keepalive, receive a QoS 1 message
//! and not acknowledge it, hang up without DISCONNECT, read the CONNACK's
//! session present flag and the retain and dup flags of what arrives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct RawClient {
    stream: TcpStream,
    next_id: u16,
    /// PUBLISHes that came while waiting for an acknowledgement, not yet handed out.
    pending: std::collections::VecDeque<(u8, Vec<u8>)>,
}

/// A PUBLISH the client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    pub packet_id: Option<u16>,
}

/// What CONNECT sends besides the client id.
#[derive(Default)]
pub struct Connect<'a> {
    pub clean: bool,
    pub keepalive: u16,
    /// Topic and payload of the will (QoS 0, not retained).
    pub will: Option<(&'a str, &'a [u8])>,
}

impl RawClient {
    /// Connects; returns the client and the CONNACK's session present flag.
    /// A refusal fails the test: the broker has no reason to refuse a client.
    pub fn connect(port: u16, client_id: &str, c: Connect) -> (RawClient, bool) {
        RawClient::try_connect(port, client_id, &c).unwrap_or_else(|code| panic!("connection refused with code {code}"))
    }

    /// Connects; the CONNACK's return code when it refuses.
    pub fn try_connect(port: u16, client_id: &str, c: &Connect) -> Result<(RawClient, bool), u8> {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
        stream.set_nodelay(true).ok();
        let mut client = RawClient { stream, next_id: 1, pending: Default::default() };
        let mut body = Vec::new();
        string(&mut body, b"MQTT");
        body.push(4);
        let mut flags = if c.clean { 0x02 } else { 0 };
        if c.will.is_some() {
            flags |= 0x04;
        }
        body.push(flags);
        body.extend_from_slice(&c.keepalive.to_be_bytes());
        string(&mut body, client_id.as_bytes());
        if let Some((topic, payload)) = c.will {
            string(&mut body, topic.as_bytes());
            string(&mut body, payload);
        }
        client.send(0x10, &body);
        let (kind, body) = client.read(Duration::from_secs(10)).expect("a CONNACK");
        assert_eq!(kind >> 4, 2, "CONNACK expected");
        match body[1] {
            0 => Ok((client, body[0] & 1 == 1)),
            code => Err(code),
        }
    }

    /// Subscribes and waits for the SUBACK; returns its return codes.
    pub fn subscribe(&mut self, filters: &[(&str, u8)]) -> Vec<u8> {
        let id = self.id();
        let mut body = id.to_be_bytes().to_vec();
        for (f, qos) in filters {
            string(&mut body, f.as_bytes());
            body.push(*qos);
        }
        self.send(0x82, &body);
        let (_, body) = self.wait_for(9, Duration::from_secs(10));
        body[2..].to_vec()
    }

    /// Unsubscribes and waits for the UNSUBACK.
    pub fn unsubscribe(&mut self, filters: &[&str]) {
        let id = self.id();
        let mut body = id.to_be_bytes().to_vec();
        for f in filters {
            string(&mut body, f.as_bytes());
        }
        self.send(0xA2, &body);
        self.wait_for(11, Duration::from_secs(10));
    }

    /// Publishes and, for QoS 1 and 2, completes the exchange.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) {
        let mut body = Vec::new();
        string(&mut body, topic.as_bytes());
        let id = self.id();
        if qos > 0 {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.extend_from_slice(payload);
        self.send(0x30 | (qos << 1) | u8::from(retain), &body);
        match qos {
            1 => {
                self.wait_for(4, Duration::from_secs(10));
            }
            2 => {
                self.wait_for(5, Duration::from_secs(10));
                self.send(0x62, &id.to_be_bytes());
                self.wait_for(7, Duration::from_secs(10));
            }
            _ => {}
        }
    }

    /// Sends a QoS 1 PUBLISH and goes on without waiting for its PUBACK
    /// (see [`RawClient::pubacks`]); its packet id.
    pub fn send_publish(&mut self, topic: &str, payload: &[u8]) -> u16 {
        self.send_qos1(topic, payload, false)
    }

    /// [`RawClient::send_publish`] with the retain flag set.
    pub fn send_retained(&mut self, topic: &str, payload: &[u8]) -> u16 {
        self.send_qos1(topic, payload, true)
    }

    fn send_qos1(&mut self, topic: &str, payload: &[u8], retain: bool) -> u16 {
        let mut body = Vec::new();
        string(&mut body, topic.as_bytes());
        let id = self.id();
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(payload);
        self.send(0x32 | u8::from(retain), &body);
        id
    }

    /// The packet ids of the PUBACKs that come, in the order they came, until
    /// `count` have or `limit` passes (a PUBLISH that comes meanwhile is kept
    /// for `receive`).
    pub fn pubacks(&mut self, count: usize, limit: Duration) -> Vec<u16> {
        let deadline = Instant::now() + limit;
        let mut acked = Vec::new();
        while acked.len() < count {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
            match self.read_socket(left) {
                Some((k, body)) if k >> 4 == 4 => acked.push(u16::from_be_bytes([body[0], body[1]])),
                Some((k, body)) if k >> 4 == 3 => self.pending.push_back((k, body)),
                Some(_) => {}
                None => break,
            }
        }
        acked
    }

    /// The next PUBLISH within `limit`, not acknowledged (see [`RawClient::ack`]).
    pub fn receive(&mut self, limit: Duration) -> Option<Publish> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (kind, body) = self.read(left)?;
            if kind >> 4 == 3 {
                return Some(parse_publish(kind, &body));
            }
        }
    }

    /// Every PUBLISH within `span`, each acknowledged (QoS 1) or completed (QoS 2).
    pub fn collect(&mut self, span: Duration) -> Vec<Publish> {
        let deadline = Instant::now() + span;
        let mut got = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Some((kind, body)) = self.read(left) else { break };
            match kind >> 4 {
                3 => {
                    let p = parse_publish(kind, &body);
                    self.ack(&p);
                    got.push(p);
                }
                // PUBREL: complete the QoS 2 exchange.
                6 => self.send(0x70, &body[..2]),
                _ => {}
            }
        }
        got
    }

    /// Acknowledges a received PUBLISH (PUBACK, or PUBREC for QoS 2).
    pub fn ack(&mut self, p: &Publish) {
        match (p.qos, p.packet_id) {
            (1, Some(id)) => self.send(0x40, &id.to_be_bytes()),
            (2, Some(id)) => self.send(0x50, &id.to_be_bytes()),
            _ => {}
        }
    }

    /// Sends DISCONNECT and closes.
    pub fn disconnect(mut self) {
        self.send(0xE0, &[]);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Closes the socket with no DISCONNECT, as a client that died.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Whether the broker has closed the connection (waits up to `limit`).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 256];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    fn id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn send(&mut self, header: u8, body: &[u8]) {
        let mut packet = vec![header];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            packet.push(byte);
            if len == 0 {
                break;
            }
        }
        packet.extend_from_slice(body);
        self.stream.write_all(&packet).expect("write to the broker");
    }

    /// Waits for a packet of type `kind`, keeping PUBLISHes it meets on the way.
    fn wait_for(&mut self, kind: u8, limit: Duration) -> (u8, Vec<u8>) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.checked_duration_since(Instant::now()).expect("the broker answered in time");
            let (k, body) = self.read_socket(left).unwrap_or_else(|| panic!("no packet of type {kind} in time"));
            if k >> 4 == kind {
                return (k, body);
            }
            if k >> 4 == 3 {
                self.pending.push_back((k, body));
            }
        }
    }

    /// One packet (a kept PUBLISH first), or None when none came in `limit`
    /// or the connection closed.
    fn read(&mut self, limit: Duration) -> Option<(u8, Vec<u8>)> {
        if let Some(p) = self.pending.pop_front() {
            return Some(p);
        }
        self.read_socket(limit)
    }

    fn read_socket(&mut self, limit: Duration) -> Option<(u8, Vec<u8>)> {
        self.stream.set_read_timeout(Some(limit.max(Duration::from_millis(1)))).unwrap();
        let mut header = [0u8; 1];
        self.stream.read_exact(&mut header).ok()?;
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b).ok()?;
            len |= ((b[0] & 0x7f) as usize) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).ok()?;
        Some((header[0], body))
    }
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

fn parse_publish(header: u8, body: &[u8]) -> Publish {
    let qos = (header >> 1) & 3;
    let n = u16::from_be_bytes([body[0], body[1]]) as usize;
    let topic = String::from_utf8_lossy(&body[2..2 + n]).into_owned();
    let mut at = 2 + n;
    let packet_id = (qos > 0).then(|| {
        at += 2;
        u16::from_be_bytes([body[at - 2], body[at - 1]])
    });
    Publish { topic, payload: body[at..].to_vec(), qos, retain: header & 1 == 1, dup: header & 0x08 != 0, packet_id }
}
