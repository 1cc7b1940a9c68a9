//! A hostile hub (issue 24): the real hub machine, with a hand on what it sends one
//! client (`Sim::tamper`, `Sim::inject`). Each attack a modified hub could make is
//! either detected or harmless, and the test asserts what the user sees.
use std::cell::RefCell;
use std::rc::Rc;

use super::*;

/// The double itself: a frame it holds back never reaches the client's session, and
/// the same frame handed over later does, as if the hub had sent it.
#[test]
fn the_double_holds_back_and_hands_over_frames() {
    let mut sim = Sim::new(PW);
    let a = sim.login(1, "alice");
    let b = sim.login(2, "bob");
    let held: Rc<RefCell<Vec<ServerFrame>>> = Rc::default();
    let keep = held.clone();
    sim.tamper(b, move |f| match f {
        ServerFrame::Message(_) => {
            keep.borrow_mut().push(f);
            Vec::new()
        }
        other => vec![other],
    });
    send(&mut sim, a, 1, Target::Client(id(2)), "held back");
    assert!(
        messages(&sim, b).is_empty(),
        "a held-back frame reached bob"
    );
    assert_eq!(held.borrow().len(), 1);
    sim.honest(b);
    let frame = held.borrow()[0].clone();
    sim.inject(b, &frame);
    let got = messages(&sim, b);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "held back");
}
