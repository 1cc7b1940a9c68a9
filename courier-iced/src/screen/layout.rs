//! What the layout tests share: the window sizes the app is tried at, its two themes,
//! and whether a widget can be seen in a window of a given size.

use iced::{Rectangle, Size, Theme};
use iced_test::Simulator;
use iced_test::selector::{Bounded, Candidate, Selector};

/// The smallest window, the default one, and a large one.
pub(crate) const SIZES: [Size; 3] = [
    Size::new(700.0, 500.0),
    Size::new(1100.0, 720.0),
    Size::new(1600.0, 1000.0),
];

/// The app's two themes.
pub(crate) const THEMES: [Theme; 2] = [Theme::Light, Theme::Dark];

/// The width a vertical scrollbar takes (iced's default), which content must leave free.
const SCROLLBAR: f32 = 10.0;

/// A scrollable's frame in the window and the extent of what it scrolls.
#[derive(Debug, Clone, Copy)]
struct Scroll {
    bounds: Rectangle,
    content: Rectangle,
}

/// The scrollables and the containers (a button reports itself as one) drawn.
fn frames<M>(ui: &mut Simulator<'_, M>) -> (Vec<Scroll>, Vec<Rectangle>) {
    let mut scrolls = Vec::new();
    let mut containers = Vec::new();
    let _ = ui.find(|candidate: Candidate<'_>| {
        match candidate {
            Candidate::Scrollable {
                bounds,
                content_bounds,
                ..
            } => scrolls.push(Scroll {
                bounds,
                content: content_bounds,
            }),
            Candidate::Container { bounds, .. } => containers.push(bounds),
            _ => {}
        }
        None::<()>
    });
    (scrolls, containers)
}

fn contains(outer: Rectangle, inner: Rectangle) -> bool {
    const SLACK: f32 = 0.5;
    inner.x >= outer.x - SLACK
        && inner.y >= outer.y - SLACK
        && inner.x + inner.width <= outer.x + outer.width + SLACK
        && inner.y + inner.height <= outer.y + outer.height + SLACK
}

/// Checks that what `selector` finds can be seen in a `window`-sized window: it lies
/// inside the window, or inside a scrollable that lies in the window (scrolling shows
/// it), and a scrollbar shown beside it does not cover it. Returns its bounds.
pub(crate) fn seen<M, S>(
    ui: &mut Simulator<'_, M>,
    selector: S,
    window: Size,
) -> Result<Rectangle, String>
where
    S: Selector + Send + std::fmt::Debug,
    S::Output: Bounded + Clone + Send,
{
    let what = format!("{selector:?} at {}×{}", window.width, window.height);
    let bounds = ui
        .find(selector)
        .map_err(|e| format!("{what}: not drawn ({e})"))?
        .bounds();
    let frame = Rectangle::new(iced::Point::ORIGIN, window);
    if bounds.width < 1.0 || bounds.height < 1.0 {
        return Err(format!("{what}: squeezed to {bounds:?}"));
    }
    let (scrolls, containers) = frames(ui);
    let within = scrolls
        .iter()
        .filter(|s| contains(s.content, bounds))
        .min_by(|a, b| a.content.area().total_cmp(&b.content.area()));
    match within {
        Some(scroll) => {
            if !contains(frame, scroll.bounds) {
                return Err(format!(
                    "{what}: its scrollable {scroll:?} is off the window"
                ));
            }
            let mut lane = scroll.bounds;
            if scroll.content.height > scroll.bounds.height + 0.5 {
                lane.width -= SCROLLBAR;
            }
            // What is drawn around it (the button of a label) must be clear too.
            let drawn = containers
                .iter()
                .filter(|c| contains(scroll.content, **c) && contains(**c, bounds))
                .min_by(|a, b| a.area().total_cmp(&b.area()))
                .copied()
                .unwrap_or(bounds);
            if !contains(
                lane,
                Rectangle {
                    y: lane.y,
                    height: lane.height,
                    ..drawn
                },
            ) {
                return Err(format!(
                    "{what}: {drawn:?} runs past its scrollable's {lane:?} (under the scrollbar)"
                ));
            }
        }
        None if !contains(frame, bounds) => {
            return Err(format!("{what}: {bounds:?} is outside the window"));
        }
        None => {}
    }
    Ok(bounds)
}

/// A simulated window of `size` showing `view`, drawn once in each theme (a theme that
/// fails to draw fails the test).
pub(crate) fn window<'a, M>(size: Size, view: impl Into<iced::Element<'a, M>>) -> Simulator<'a, M> {
    let mut ui = Simulator::with_size(iced::Settings::default(), size, view);
    for theme in &THEMES {
        assert!(ui.snapshot(theme).is_ok(), "drawn in {theme}");
    }
    ui
}
