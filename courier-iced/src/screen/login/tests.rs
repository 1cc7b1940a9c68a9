use super::*;
use courier_core::discovery::Standing;
use courier_core::proto::ClientId;
use iced_test::simulator;

fn fresh() -> Login {
    let settings = Settings {
        name: String::new(),
        ..Settings::default()
    };
    Login::new(&settings)
}

fn run(login: &mut Login, f: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) -> Vec<Action> {
    let mut ui = simulator(login.view());
    f(&mut ui);
    let messages: Vec<Message> = ui.into_messages().collect();
    messages.into_iter().map(|m| login.update(m)).collect()
}

#[test]
fn join_needs_name_address_and_password() -> Result<(), iced_test::Error> {
    let mut login = fresh();
    let actions = run(&mut login, |ui| {
        let _ = ui.click("Join");
    });
    assert_eq!(actions, vec![Action::None]);
    assert_eq!(
        login.error.as_deref(),
        Some("Enter the name others will see.")
    );

    let mut ui = simulator(login.view());
    ui.click(iced::widget::Id::new(id::NAME))?;
    ui.typewrite("Ada");
    ui.click(iced::widget::Id::new(id::ADDRESS))?;
    ui.typewrite("hub lan");
    let msgs: Vec<Message> = ui.into_messages().collect();
    for m in msgs {
        login.update(m);
    }
    assert_eq!(login.name, "Ada");
    assert_eq!(login.update(Message::Submit), Action::None);
    assert!(
        login
            .error
            .as_deref()
            .is_some_and(|e| e.contains("address"))
    );

    // No password: fine for a hub that remembers this computer (the app refuses it
    // for a hub never met).
    login.address = "10.1.2.3".into();
    assert_eq!(
        login.update(Message::Submit),
        Action::Join {
            hub: "10.1.2.3:8977".into(),
            profile: Profile::with_name("Ada"),
            password: String::new(),
        }
    );

    let mut ui = simulator(login.view());
    ui.click(iced::widget::Id::new(id::PASSWORD))?;
    ui.typewrite("secret");
    ui.tap_key(iced::keyboard::Key::Named(
        iced::keyboard::key::Named::Enter,
    ));
    let actions: Vec<Action> = ui
        .into_messages()
        .collect::<Vec<_>>()
        .into_iter()
        .map(|m| login.update(m))
        .collect();
    assert_eq!(
        actions.last(),
        Some(&Action::Join {
            hub: "10.1.2.3:8977".into(),
            profile: Profile::with_name("Ada"),
            password: "secret".into(),
        })
    );
    assert_eq!(login.error, None);
    Ok(())
}

#[test]
fn host_flow_checks_password_and_generates_one() {
    let mut login = fresh();
    login.name = "Host".into();
    run(&mut login, |ui| {
        let _ = ui.click("Host a hub on this computer");
    });
    assert_eq!(login.mode, Mode::Host);
    assert_eq!(login.update(Message::Mode(Mode::Host)), Action::Focus);

    login.password = "short".into();
    run(&mut login, |ui| {
        let _ = ui.click("Host and join");
    });
    assert!(
        login
            .error
            .as_deref()
            .is_some_and(|e| e.contains("at least 8"))
    );

    run(&mut login, |ui| {
        let _ = ui.click("Generate");
    });
    assert!(login.password.chars().count() >= MIN_HOST_PASSWORD);
    let generated = login.password.clone();
    login.port = "0".into();
    let actions = run(&mut login, |ui| {
        let _ = ui.click("Host and join");
    });
    assert_eq!(
        actions,
        vec![Action::Host {
            profile: Profile::with_name("Host"),
            password: HostPassword::Set(generated),
            port: 0
        }]
    );
}

#[test]
fn a_hub_with_a_password_is_hosted_without_typing_it_and_the_form_never_changes_it() {
    let mut login = fresh();
    login.name = "Host".into();
    login.mode = Mode::Host;
    login.hub_has_password = true;
    login.port = "8977".into();
    let actions = run(&mut login, |ui| {
        assert!(ui.find("Generate").is_err(), "nothing to set");
        assert!(ui.find(iced::widget::Id::new(id::PASSWORD)).is_err());
        let _ = ui
            .find("The hub keeps the password it has; change it from the Menu once it runs.")
            .expect("says why no password is asked");
        let _ = ui.click("Host and join");
    });
    let unchanged = Action::Host {
        profile: Profile::with_name("Host"),
        password: HostPassword::Unchanged,
        port: 8977,
    };
    assert_eq!(actions, vec![unchanged]);

    // Not remembered any more: the password is asked, to log in only.
    login.host_login_needs_password = true;
    assert_eq!(login.update(Message::Submit), Action::None);
    assert_eq!(login.error.as_deref(), Some("Enter the hub's password."));
    login.password = "the hub password".into();
    assert_eq!(
        login.update(Message::Submit),
        Action::Host {
            profile: Profile::with_name("Host"),
            password: HostPassword::LogIn("the hub password".into()),
            port: 8977,
        }
    );
}

#[test]
fn busy_screen_offers_cancel_only() {
    let mut login = fresh();
    login.status = Some("Connecting to 10.0.0.1:8977…".into());
    let actions = run(&mut login, |ui| {
        assert!(ui.find("Join").is_err(), "no Join button while connecting");
        let _ = ui.click("Cancel");
    });
    assert_eq!(actions, vec![Action::Cancel]);
    assert!(!login.busy());
}

fn hub(name: &str, last: u8, fp: u8) -> FoundHub {
    FoundHub {
        instance: format!("{name} ({fp})"),
        name: name.into(),
        addresses: vec![std::net::SocketAddr::from(([10, 0, 0, last], 8977))],
        fingerprint: Some(courier_core::proto::ClientId([fp; 32])),
        protocol: Some(courier_core::proto::PROTOCOL_VERSION),
    }
}

fn standing(standing: Standing, fp: u8) -> Checked {
    Checked {
        certificate: (standing != Standing::Unchecked).then_some(ClientId([fp; 32])),
        standing,
    }
}

#[test]
fn hubs_found_on_the_network_fill_the_form_or_join_at_once() {
    let mut login = fresh();
    let mut ui = simulator(login.view());
    assert!(
        ui.find("Looking… (none yet: type its address below)")
            .is_ok()
    );
    drop(ui);
    login.discovered(Seen::Found(hub("Office", 5, 1)), standing(Standing::New, 1));
    // Not known until its certificate is checked.
    login.discovered(
        Seen::Found(hub("Lab", 7, 2)),
        standing(Standing::Unchecked, 2),
    );
    assert_eq!(login.found[0].0.name, "Lab");
    assert!(simulator(login.view()).find("known").is_err());
    login.checked(&hub("Lab", 7, 2), standing(Standing::Known, 2));
    // The same hub again (an address changed) is one row, not two.
    login.discovered(Seen::Found(hub("Office", 6, 1)), standing(Standing::New, 1));
    // A check of what is no longer listed as it was changes nothing.
    login.checked(&hub("Office", 5, 1), standing(Standing::Known, 1));
    assert_eq!(login.found.len(), 2);
    assert_eq!(login.found[0].0.name, "Lab", "known hubs first");
    assert!(!login.found[1].1.standing.is_known());
    let mut ui = simulator(login.view());
    assert!(ui.find("Office").is_ok() && ui.find("known").is_ok());
    drop(ui);

    // A hub never met: its address is filled in; the password is still needed.
    let actions = run(&mut login, |ui| {
        let _ = ui.click("Office");
    });
    assert_eq!(actions, vec![Action::Focus]);
    assert_eq!(login.address, "10.0.0.6:8977");

    // A hub met before, with a name typed: joined at once, with no password.
    login.name = "Ada".into();
    let actions = run(&mut login, |ui| {
        let _ = ui.click("Lab");
    });
    assert!(
        matches!(&actions[..], [Action::Join { hub, password, .. }]
            if hub == "10.0.0.7:8977" && password.is_empty()),
        "{actions:?}"
    );

    // A hub that leaves the network leaves the list.
    login.discovered(Seen::Lost("Office (1)".into()), standing(Standing::New, 1));
    assert_eq!(login.found.len(), 1);
}

/// N10: a hub claiming to be one this computer knows, with another certificate (or
/// not yet checked), shows a warning and the safety code its certificate shows, is
/// never "known", and a click on it does nothing.
#[test]
fn an_impostor_in_the_list_is_a_warning_never_a_click() {
    let mut login = fresh();
    login.name = "Ada".into();
    let impostor = Standing::Impostor {
        known: ClientId([2; 32]),
        shown: ClientId([9; 32]),
    };
    // It advertises the known hub's fingerprint; its certificate shows another.
    login.discovered(
        Seen::Found(hub("Lab", 8, 2)),
        standing(Standing::Unchecked, 2),
    );
    let mut ui = simulator(login.view());
    assert!(
        ui.find(
            "Warning: it claims to be Lab, a hub you know, but its certificate could not be checked"
        )
        .is_ok()
    );
    drop(ui);
    login.checked(&hub("Lab", 8, 2), standing(impostor, 9));
    let mut ui = simulator(login.view());
    let warning = format!(
        "Warning: it claims to be Lab but is not the hub you know: expected safety code {}, found {}",
        ClientId([2; 32]).safety_code(),
        ClientId([9; 32]).safety_code()
    );
    assert!(ui.find(warning.as_str()).is_ok());
    assert!(ui.find("known").is_err());
    let line = format!(
        "10.0.0.8:8977 · safety code {}",
        ClientId([9; 32]).safety_code()
    );
    assert!(
        ui.find(line.as_str()).is_ok(),
        "the code its certificate shows"
    );
    drop(ui);
    let actions = run(&mut login, |ui| {
        let _ = ui.click("Lab");
    });
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(login.update(Message::Pick(0)), Action::None);
    assert!(login.address.is_empty());
}

mod layout;
/// Issue 22: a reason the form cannot be used goes as soon as the input is fixed (it
/// used to stay until the next press), and a refused join's error is no such reason.
#[test]
fn a_fixed_form_loses_its_error_at_once() {
    let mut login = fresh();
    login.update(Message::Mode(Mode::Host));
    login.update(Message::Name("Host".into()));
    login.update(Message::Password("a good hub password".into()));
    login.update(Message::Port("99999".into()));
    assert_eq!(login.update(Message::Submit), Action::None);
    assert!(login.error.as_deref().is_some_and(|e| e.contains("port")));
    login.update(Message::Port("8977".into()));
    assert_eq!(login.error, None, "fixed: the port error goes");

    login.update(Message::Name(String::new()));
    assert_eq!(login.update(Message::Submit), Action::None);
    assert!(login.error.is_some());
    login.update(Message::Name("Host".into()));
    assert_eq!(login.error, None, "fixed: the name error goes");

    login.error = Some("Cannot connect: the hub refused the password.".into());
    login.update(Message::Name("Host2".into()));
    assert!(login.error.is_some(), "not a form error: it stays");
}
