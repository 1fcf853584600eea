//! The extensions of one environment (Extensions API 2020-01-01), as pure state: who registered
//! for which events, who is waiting in `event/next`, whose events are queued. The endpoint wakes
//! the waiters; this module only decides.

use std::collections::VecDeque;

use bytes::Bytes;

/// Lambda's limit on extensions per function.
pub const MAX_EXTENSIONS: usize = 10;

/// Where an extension is in its loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionState {
    /// Registered, has not called `event/next` yet (still initialising).
    Registered,
    /// Called `event/next` and waits for an event.
    Waiting,
    /// Received an event and has not called `event/next` again.
    Processing,
    /// Reported `init/error` or `exit/error`: no further calls are accepted.
    Failed,
}

/// One registered extension.
#[derive(Debug, Clone)]
pub struct Extension {
    pub id: String,
    pub name: String,
    pub invoke: bool,
    pub shutdown: bool,
    /// Started by the platform from `/opt/extensions` (external) or registered from inside the
    /// runtime process (internal).
    pub external: bool,
    pub state: ExtensionState,
    queue: VecDeque<Bytes>,
}

impl Extension {
    /// The events it registered for, as Lambda lists them in `EXTENSION` log lines.
    pub fn events(&self) -> Vec<&'static str> {
        let mut events = Vec::new();
        if self.invoke {
            events.push("INVOKE");
        }
        if self.shutdown {
            events.push("SHUTDOWN");
        }
        events
    }
}

/// Why an Extensions API call is refused; each maps to Lambda's error type (403 unless noted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionRefusal {
    InvalidExtensionName,
    RegistrationClosed,
    TooManyExtensions,
    InvalidEventType(String),
    /// Duplicate name, or a call in the wrong state.
    InvalidExtensionState(String),
    MissingExtensionIdentifier,
    UnknownExtensionIdentifier,
}

impl ExtensionRefusal {
    pub fn error_type(&self) -> &'static str {
        match self {
            ExtensionRefusal::InvalidExtensionName => "Extension.InvalidExtensionName",
            ExtensionRefusal::RegistrationClosed => "Extension.RegistrationClosed",
            ExtensionRefusal::TooManyExtensions => "Extension.TooManyExtensions",
            ExtensionRefusal::InvalidEventType(_) => "Extension.InvalidEventType",
            ExtensionRefusal::InvalidExtensionState(_) => "Extension.InvalidExtensionState",
            ExtensionRefusal::MissingExtensionIdentifier => "Extension.MissingExtensionIdentifier",
            ExtensionRefusal::UnknownExtensionIdentifier => "Extension.UnknownExtensionIdentifier",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ExtensionRefusal::InvalidExtensionName => "Empty extension name".into(),
            ExtensionRefusal::RegistrationClosed => "Extension registration is closed".into(),
            ExtensionRefusal::TooManyExtensions => {
                format!("Extension limit ({MAX_EXTENSIONS}) reached")
            }
            ExtensionRefusal::InvalidEventType(event) => format!("Invalid event type: {event}"),
            ExtensionRefusal::InvalidExtensionState(why) => why.clone(),
            ExtensionRefusal::MissingExtensionIdentifier => {
                "Missing Lambda-Extension-Identifier header".into()
            }
            ExtensionRefusal::UnknownExtensionIdentifier => "Unknown extension identifier".into(),
        }
    }
}

/// The extensions of one environment.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Names of the executables found in `/opt/extensions`.
    external_names: Vec<String>,
    closed: bool,
    list: Vec<Extension>,
}

impl Registry {
    pub fn new(external_names: Vec<String>) -> Self {
        Registry {
            external_names,
            closed: false,
            list: Vec::new(),
        }
    }

    pub fn register(
        &mut self,
        id: String,
        name: &str,
        events: &[String],
    ) -> Result<&Extension, ExtensionRefusal> {
        if name.is_empty() {
            return Err(ExtensionRefusal::InvalidExtensionName);
        }
        if self.closed {
            return Err(ExtensionRefusal::RegistrationClosed);
        }
        if self.list.len() >= MAX_EXTENSIONS {
            return Err(ExtensionRefusal::TooManyExtensions);
        }
        if self.list.iter().any(|e| e.name == name) {
            return Err(ExtensionRefusal::InvalidExtensionState(format!(
                "Extension {name} is already registered"
            )));
        }
        let external = self.external_names.iter().any(|n| n == name);
        let (mut invoke, mut shutdown) = (false, false);
        for event in events {
            match event.as_str() {
                "INVOKE" => invoke = true,
                // Internal extensions live in the runtime process, which gets SIGTERM instead.
                "SHUTDOWN" if external => shutdown = true,
                other => return Err(ExtensionRefusal::InvalidEventType(other.to_string())),
            }
        }
        self.list.push(Extension {
            id,
            name: name.to_string(),
            invoke,
            shutdown,
            external,
            state: ExtensionState::Registered,
            queue: VecDeque::new(),
        });
        Ok(self.list.last().expect("just pushed"))
    }

    pub fn get(&self, id: &str) -> Result<&Extension, ExtensionRefusal> {
        self.list
            .iter()
            .find(|e| e.id == id)
            .ok_or(ExtensionRefusal::UnknownExtensionIdentifier)
    }

    fn get_mut(&mut self, id: &str) -> Result<&mut Extension, ExtensionRefusal> {
        self.list
            .iter_mut()
            .find(|e| e.id == id)
            .ok_or(ExtensionRefusal::UnknownExtensionIdentifier)
    }

    /// `event/next`: returns the next queued event, or `None` if the extension must wait.
    pub fn next(&mut self, id: &str) -> Result<Option<Bytes>, ExtensionRefusal> {
        let extension = self.get_mut(id)?;
        if extension.state == ExtensionState::Failed {
            return Err(ExtensionRefusal::InvalidExtensionState(
                "Extension reported an error and cannot continue".into(),
            ));
        }
        match extension.queue.pop_front() {
            Some(event) => {
                extension.state = ExtensionState::Processing;
                Ok(Some(event))
            }
            None => {
                extension.state = ExtensionState::Waiting;
                Ok(None)
            }
        }
    }

    /// `init/error` or `exit/error`: the extension stops taking part.
    pub fn fail(&mut self, id: &str) -> Result<&Extension, ExtensionRefusal> {
        let extension = self.get_mut(id)?;
        extension.state = ExtensionState::Failed;
        extension.queue.clear();
        Ok(extension)
    }

    /// Init is done for the extensions once each has called `event/next` (or failed).
    pub fn all_initialised(&self) -> bool {
        self.list
            .iter()
            .all(|e| e.state != ExtensionState::Registered)
    }

    /// An invocation is done for the extensions once none is processing an event or has one
    /// queued.
    pub fn all_idle(&self) -> bool {
        self.list
            .iter()
            .all(|e| e.state != ExtensionState::Processing && e.queue.is_empty())
    }

    /// Closes registration (Init is over).
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Queues `event` for every extension subscribed to INVOKE; returns their ids to wake.
    pub fn push_invoke(&mut self, event: &Bytes) -> Vec<String> {
        self.push(event, |e| e.invoke)
    }

    /// Queues `event` for every extension subscribed to SHUTDOWN; returns their ids to wake.
    pub fn push_shutdown(&mut self, event: &Bytes) -> Vec<String> {
        self.push(event, |e| e.shutdown)
    }

    fn push(&mut self, event: &Bytes, wants: impl Fn(&Extension) -> bool) -> Vec<String> {
        self.list
            .iter_mut()
            .filter(|e| wants(e) && e.state != ExtensionState::Failed)
            .map(|e| {
                e.queue.push_back(event.clone());
                e.id.clone()
            })
            .collect()
    }

    pub fn list(&self) -> &[Extension] {
        &self.list
    }

    /// True when some extension registered for SHUTDOWN (Lambda then allows 2 s to shut down).
    pub fn any_external(&self) -> bool {
        self.list.iter().any(|e| e.external)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn registration_rules() {
        let mut registry = Registry::new(vec!["ext-a".into()]);
        let a = registry
            .register("1".into(), "ext-a", &events(&["INVOKE", "SHUTDOWN"]))
            .unwrap();
        assert!(a.external && a.invoke && a.shutdown);
        assert_eq!(
            registry
                .register("2".into(), "ext-a", &events(&[]))
                .unwrap_err()
                .error_type(),
            "Extension.InvalidExtensionState"
        );
        assert_eq!(
            registry
                .register("3".into(), "internal", &events(&["SHUTDOWN"]))
                .unwrap_err(),
            ExtensionRefusal::InvalidEventType("SHUTDOWN".into())
        );
        assert_eq!(
            registry
                .register("3".into(), "internal", &events(&["BOGUS"]))
                .unwrap_err(),
            ExtensionRefusal::InvalidEventType("BOGUS".into())
        );
        assert!(
            registry
                .register("3".into(), "internal", &events(&["INVOKE"]))
                .is_ok()
        );
        assert_eq!(
            registry.register("4".into(), "", &events(&[])).unwrap_err(),
            ExtensionRefusal::InvalidExtensionName
        );
        registry.close();
        assert_eq!(
            registry
                .register("5".into(), "late", &events(&[]))
                .unwrap_err(),
            ExtensionRefusal::RegistrationClosed
        );
    }

    #[test]
    fn at_most_ten() {
        let mut registry = Registry::new(Vec::new());
        for i in 0..MAX_EXTENSIONS {
            registry
                .register(i.to_string(), &format!("e{i}"), &[])
                .unwrap();
        }
        assert_eq!(
            registry.register("x".into(), "x", &[]).unwrap_err(),
            ExtensionRefusal::TooManyExtensions
        );
    }

    #[test]
    fn init_and_invoke_completion() {
        let mut registry = Registry::new(vec!["a".into()]);
        registry
            .register("a".into(), "a", &events(&["INVOKE"]))
            .unwrap();
        registry.register("b".into(), "b", &events(&[])).unwrap();
        assert!(!registry.all_initialised());
        assert_eq!(registry.next("a").unwrap(), None);
        assert!(!registry.all_initialised());
        assert_eq!(registry.next("b").unwrap(), None);
        assert!(registry.all_initialised());

        let event = Bytes::from_static(b"{\"eventType\":\"INVOKE\"}");
        assert_eq!(registry.push_invoke(&event), vec!["a".to_string()]);
        assert!(!registry.all_idle(), "queued but not taken");
        assert_eq!(registry.next("a").unwrap(), Some(event));
        assert!(!registry.all_idle(), "processing");
        assert_eq!(registry.next("a").unwrap(), None);
        assert!(registry.all_idle());
    }

    #[test]
    fn failed_extensions_are_out() {
        let mut registry = Registry::new(Vec::new());
        registry
            .register("a".into(), "a", &events(&["INVOKE"]))
            .unwrap();
        registry.fail("a").unwrap();
        assert!(registry.all_initialised());
        assert!(registry.push_invoke(&Bytes::new()).is_empty());
        assert!(registry.next("a").is_err());
        assert_eq!(
            registry.next("zzz").unwrap_err(),
            ExtensionRefusal::UnknownExtensionIdentifier
        );
    }
}
