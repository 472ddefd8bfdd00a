//! Test hooks, compiled into debug builds only and armed only by
//! `HEALTHMON_TEST_HOOKS=1`: SIGUSR1 wedges the loop, to prove a hung loop
//! stops the watchdog pings. A release build has no way in.

#[cfg(debug_assertions)]
mod imp {
    use tokio::signal::unix::{signal, Signal, SignalKind};

    pub struct Hooks {
        wedge: Option<Signal>,
    }

    impl Hooks {
        pub fn from_env() -> std::io::Result<Hooks> {
            let armed = std::env::var_os("HEALTHMON_TEST_HOOKS").is_some_and(|v| v == "1");
            let wedge = if armed { Some(signal(SignalKind::user_defined1())?) } else { None };
            Ok(Hooks { wedge })
        }

        pub async fn wedge_requested(&mut self) {
            match &mut self.wedge {
                Some(sig) => {
                    sig.recv().await;
                }
                None => std::future::pending().await,
            }
        }
    }
}

/// Release builds: no hooks at all.
#[cfg(not(debug_assertions))]
mod imp {
    pub struct Hooks;

    impl Hooks {
        pub fn from_env() -> std::io::Result<Hooks> {
            Ok(Hooks)
        }

        pub async fn wedge_requested(&mut self) {
            std::future::pending().await
        }
    }
}

pub use imp::Hooks;
