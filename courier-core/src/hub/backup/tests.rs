use std::path::PathBuf;

use super::*;
use crate::auth::Password;
use crate::hub::home::Home;

fn tempdir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "courier-backup-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// A hub's folder as `courier hub` leaves it: identity, password record, database with a
/// remembered member.
fn hub_folder(tag: &str) -> (PathBuf, ClientId, crate::hub::db::Db) {
    let dir = tempdir(tag);
    let home = Home::open(&dir).unwrap();
    let id = home.identity().unwrap().id();
    home.set_password(&Password::new("pw")).unwrap();
    let db = home.database().unwrap();
    db.ban(
        &ClientId([3; 32]),
        crate::proto::Timestamp(1_700_000_000_000),
    )
    .unwrap();
    // Files that are not the hub's: never copied.
    fs::write(dir.join("hub.lock"), b"1234").unwrap();
    fs::write(dir.join("notes.txt"), b"mine").unwrap();
    (dir, id, db)
}

#[test]
fn a_backup_is_a_hub_folder_with_the_same_identity_password_and_database() {
    let (dir, id, db) = hub_folder("same");
    let out = tempdir("same-out").join("nested").join("copy");
    // The database stays open, as under a running hub.
    let summary = create(&dir, &out).unwrap();
    drop(db);
    assert_eq!(summary.fingerprint, id);
    let mut names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["hub.db", "hub.secret", "identity.crt", "identity.key"],
        "exactly the hub's files, no lock, no WAL, nothing else"
    );
    assert_eq!(summary.files.len(), 4);
    assert!(summary.bytes() > 0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&out), 0o700);
        for name in &names {
            assert_eq!(mode(&out.join(name)), 0o600, "{name}");
        }
    }
    let copy = Home::open(&out).unwrap();
    assert_eq!(copy.identity().unwrap().id(), id, "same safety code");
    assert!(copy.secret().unwrap().is_some(), "same password record");
    let bans = copy.database().unwrap().bans().unwrap();
    assert_eq!(bans.len(), 1, "the database came along");
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(out.parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn a_folder_with_something_in_it_is_refused_and_left_as_it_is() {
    let (dir, _, _db) = hub_folder("nonempty");
    let out = tempdir("nonempty-out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("old"), b"keep me").unwrap();
    let err = create(&dir, &out).unwrap_err();
    assert!(matches!(err, Error::NotEmpty { .. }), "{err}");
    assert_eq!(fs::read(out.join("old")).unwrap(), b"keep me");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 1);
    // A file where the folder should go is refused too.
    let file = out.join("old");
    assert!(matches!(
        create(&dir, &file).unwrap_err(),
        Error::NotEmpty { .. }
    ));
    // An empty folder is taken.
    let empty = out.join("empty");
    fs::create_dir(&empty).unwrap();
    create(&dir, &empty).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_folder_without_a_hub_is_refused_and_nothing_is_written() {
    let dir = tempdir("nohub");
    fs::create_dir_all(&dir).unwrap();
    let out = tempdir("nohub-out");
    let err = create(&dir, &out).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoHub {
                missing: "identity.key",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("no hub's folder"), "{err}");
    assert!(!out.exists(), "no backup folder left behind");
    // A folder that does not exist is no hub either.
    let err = create(&dir.join("missing"), &out).unwrap_err();
    assert!(matches!(err, Error::NoHub { .. }), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_folder_that_cannot_be_read_is_an_error_naming_the_file() {
    // A path through a regular file cannot be read, even by root.
    let file = tempdir("unreadable");
    fs::write(&file, b"x").unwrap();
    let out = tempdir("unreadable-out");
    let err = create(&file.join("hub"), &out).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("identity.key"), "{err}");
    assert!(!out.exists());
    fs::remove_file(&file).unwrap();
}

#[test]
fn a_damaged_database_is_not_backed_up_and_the_copy_is_removed() {
    let (dir, _, db) = hub_folder("damaged");
    drop(db);
    fs::write(dir.join("hub.db"), vec![0x5a; 8192]).unwrap();
    let _ = fs::remove_file(dir.join("hub.db-wal"));
    let _ = fs::remove_file(dir.join("hub.db-shm"));
    let out = tempdir("damaged-out");
    let err = create(&dir, &out).unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err}");
    assert!(!out.exists(), "what was written is removed");
    fs::remove_dir_all(&dir).unwrap();
}

/// An empty folder reached through a symbolic link is refused: the link's target may be a
/// folder someone else owns, who could later swap the private files put in it.
#[cfg(unix)]
#[test]
fn a_symlink_as_the_backups_folder_is_refused() {
    let (dir, _, _db) = hub_folder("symlink");
    let out = tempdir("symlink-out");
    fs::create_dir_all(out.join("target")).unwrap();
    let link = out.join("link");
    std::os::unix::fs::symlink(out.join("target"), &link).unwrap();
    let err = create(&dir, &link).unwrap_err();
    assert!(matches!(err, Error::NotYours { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(out.join("target")).unwrap().count(), 0);
    // A link to nowhere is refused too (not followed and created).
    let dangling = out.join("dangling");
    std::os::unix::fs::symlink(out.join("nowhere"), &dangling).unwrap();
    assert!(matches!(
        create(&dir, &dangling).unwrap_err(),
        Error::NotYours { .. }
    ));
    assert!(!out.join("nowhere").exists());
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&out).unwrap();
}

/// An empty folder another user owns is refused: its owner could swap the 0600 files
/// (`hub.secret`) after the backup. Needs root to give a folder away: skipped otherwise.
#[cfg(target_os = "linux")]
#[test]
fn an_empty_folder_of_another_user_is_refused() {
    use std::os::unix::fs::MetadataExt;
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipped: giving a folder to another user needs root");
        return;
    }
    let (dir, _, _db) = hub_folder("theirs");
    let out = tempdir("theirs-out");
    fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::chown(&out, Some(65534), Some(65534)).unwrap();
    let err = create(&dir, &out).unwrap_err();
    assert!(matches!(err, Error::NotYours { .. }), "{err}");
    assert!(err.to_string().contains("another user owns it"), "{err}");
    assert_eq!(fs::metadata(&out).unwrap().uid(), 65534, "left as it was");
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&out).unwrap();
}
