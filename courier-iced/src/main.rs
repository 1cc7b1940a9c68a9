//! `courier-app`: the Courier desktop app.

fn main() -> iced::Result {
    courier_iced::run()
}
