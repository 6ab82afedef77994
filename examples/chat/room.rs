//! Rooms and who is in them: members on this process (by connection) and on the others (by
//! process id, as Redis reports them), and the JSON messages of the chat protocol.
//!
//! Client to server: `{"type":"join","room":R,"name":N}`, then `{"type":"say","text":T}`.
//! Server to client: `welcome` (with `members` and `cross`), `joined`/`left` (a name), `msg`
//! (`from`, `text`), `status` (`cross`: `live`, `paused` or `off`) and `error`.

use std::collections::{BTreeSet, HashMap};

use mio::Token;
use serde::Deserialize;
use serde_json::json;

/// What a client may send.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Request {
    Join { room: String, name: String },
    Say { text: String },
}

/// One room.
#[derive(Default)]
pub struct Room {
    /// Members on this process, by name.
    pub local: HashMap<String, Token>,
    /// Members on other processes, by process id.
    pub remote: HashMap<String, BTreeSet<String>>,
}

impl Room {
    /// Every name present, on any process (a name on two processes at once, possible in the
    /// short window before presence reaches the other process, is listed once).
    pub fn names(&self) -> BTreeSet<String> {
        let mut all: BTreeSet<String> = self.local.keys().cloned().collect();
        for names in self.remote.values() {
            all.extend(names.iter().cloned());
        }
        all
    }

    pub fn has(&self, name: &str) -> bool {
        self.local.contains_key(name) || self.remote.values().any(|n| n.contains(name))
    }
}

/// Every room this process knows of.
#[derive(Default)]
pub struct Rooms {
    pub rooms: HashMap<String, Room>,
    /// The room and name of each member connection on this process.
    pub by_token: HashMap<Token, (String, String)>,
}

/// The change of a room's presence, as `joined`/`left` events to send to its local members.
pub fn presence_diff(before: &BTreeSet<String>, after: &BTreeSet<String>) -> Vec<String> {
    let mut events = Vec::new();
    for name in after.difference(before) {
        events.push(json!({"type": "joined", "name": name}).to_string());
    }
    for name in before.difference(after) {
        events.push(json!({"type": "left", "name": name}).to_string());
    }
    events
}

impl Rooms {
    /// Adds a local member; `Err` with the reason when refused.
    pub fn join(&mut self, token: Token, room: &str, name: &str) -> Result<(), &'static str> {
        if self.by_token.contains_key(&token) {
            return Err("already in a room");
        }
        if !valid_room(room) {
            return Err("a room is 1 to 32 letters, digits, '-' or '_'");
        }
        if name.is_empty() || name.chars().count() > 32 || name.chars().any(char::is_control) {
            return Err("a name is 1 to 32 printable characters");
        }
        let r = self.rooms.entry(room.to_string()).or_default();
        if r.has(name) {
            return Err("name taken");
        }
        r.local.insert(name.to_string(), token);
        self.by_token.insert(token, (room.to_string(), name.to_string()));
        Ok(())
    }

    /// Removes a local member: its room and name, if it was one.
    pub fn leave(&mut self, token: Token) -> Option<(String, String)> {
        let (room, name) = self.by_token.remove(&token)?;
        if let Some(r) = self.rooms.get_mut(&room) {
            r.local.remove(&name);
        }
        self.forget_if_empty(&room);
        Some((room, name))
    }

    /// Replaces what another process is known to have in `room`; returns the events.
    pub fn set_remote(&mut self, room: &str, procs: HashMap<String, BTreeSet<String>>) -> Vec<String> {
        let r = self.rooms.entry(room.to_string()).or_default();
        let before = r.names();
        r.remote = procs;
        let events = presence_diff(&before, &r.names());
        self.forget_if_empty(room);
        events
    }

    /// Applies one live join or leave announced by process `pid`.
    pub fn remote_change(&mut self, room: &str, pid: &str, name: &str, joined: bool) -> Vec<String> {
        let r = self.rooms.entry(room.to_string()).or_default();
        let before = r.names();
        let names = r.remote.entry(pid.to_string()).or_default();
        if joined {
            names.insert(name.to_string());
        } else {
            names.remove(name);
        }
        if names.is_empty() {
            r.remove_proc(pid);
        }
        let events = presence_diff(&before, &r.names());
        self.forget_if_empty(room);
        events
    }

    /// The local members of `room`.
    pub fn local_tokens(&self, room: &str) -> Vec<Token> {
        self.rooms.get(room).map(|r| r.local.values().copied().collect()).unwrap_or_default()
    }

    /// Names of local members by room (what this process publishes as its presence).
    pub fn local_names(&self, room: &str) -> Vec<String> {
        self.rooms.get(room).map(|r| r.local.keys().cloned().collect()).unwrap_or_default()
    }

    fn forget_if_empty(&mut self, room: &str) {
        if self.rooms.get(room).is_some_and(|r| r.local.is_empty() && r.remote.is_empty()) {
            self.rooms.remove(room);
        }
    }
}

impl Room {
    fn remove_proc(&mut self, pid: &str) {
        self.remote.remove(pid);
    }
}

pub fn valid_room(room: &str) -> bool {
    (1..=32).contains(&room.len()) && room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn welcome(room: &str, name: &str, members: &BTreeSet<String>, cross: &str) -> String {
    json!({"type": "welcome", "room": room, "name": name, "members": members, "cross": cross}).to_string()
}

pub fn message(from: &str, text: &str) -> String {
    json!({"type": "msg", "from": from, "text": text}).to_string()
}

pub fn status(cross: &str) -> String {
    json!({"type": "status", "cross": cross}).to_string()
}

pub fn error(reason: &str) -> String {
    json!({"type": "error", "error": reason}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_across_processes_and_presence_diffs() {
        let mut rooms = Rooms::default();
        assert_eq!(rooms.join(Token(2), "lobby", "ann"), Ok(()));
        assert_eq!(rooms.join(Token(3), "lobby", "ann"), Err("name taken"));
        let events = rooms.remote_change("lobby", "p2", "bob", true);
        assert_eq!(events, [r#"{"name":"bob","type":"joined"}"#]);
        assert_eq!(rooms.join(Token(3), "lobby", "bob"), Err("name taken"));
        let events = rooms.set_remote("lobby", HashMap::new());
        assert_eq!(events, [r#"{"name":"bob","type":"left"}"#]);
        assert_eq!(rooms.leave(Token(2)), Some(("lobby".into(), "ann".into())));
        assert!(rooms.rooms.is_empty());
    }
}
