//! The Join and Host forms at the smallest, the default and a large window, in both
//! themes: every field, the check's result and the button that sends the form can be
//! seen (scrolling when the window is short).

use super::*;
use crate::screen::layout::{SIZES, seen, window};
use courier_core::doctor::Finding;
use iced::widget::Id;

/// A join that failed, with hubs found on the network and the connection check run.
fn after_a_failed_join() -> Login {
    let mut login = fresh();
    login.name = "Ada".into();
    login.address = "hub.lan".into();
    for (name, last, fp) in [("Lab", 7, 2), ("Office", 5, 1), ("Studio", 9, 3)] {
        login
            .found
            .push((hub(name, last, fp), standing(Standing::Known, fp)));
    }
    login.error = Some("Cannot reach the hub: the connection was refused.".into());
    let mut check = None;
    Check::start(&mut check);
    for step in ["interfaces", "discovery", "address", "connect", "login"] {
        Check::found(
            &mut check,
            Finding {
                step,
                ok: step != "connect",
                text: format!("what the {step} step found"),
            },
        );
    }
    Check::done(&mut check);
    login.check = check;
    login
}

#[test]
fn the_join_form_and_the_checks_result_can_be_seen_at_every_size() -> Result<(), String> {
    let login = after_a_failed_join();
    for size in SIZES {
        let mut ui = window(size, login.view());
        for field in [id::ADDRESS, id::NAME, id::PASSWORD] {
            seen(&mut ui, Id::new(field), size)?;
        }
        seen(&mut ui, "what the login step found", size)?;
        seen(&mut ui, "Join", size)?;
    }
    Ok(())
}

#[test]
fn the_host_form_can_be_seen_at_every_size() -> Result<(), String> {
    let mut login = fresh();
    login.mode = Mode::Host;
    for size in SIZES {
        let mut ui = window(size, login.view());
        seen(&mut ui, Id::new(id::PASSWORD), size)?;
        for label in ["Generate", "8977", "Host and join"] {
            seen(&mut ui, label, size)?;
        }
    }
    Ok(())
}
