//! A guest that misbehaves on purpose, so tests can show that only the call
//! it fails is lost: the broker keeps delivering and persisting. Its `clock`
//! function behaves: one host call and back, the smallest useful hook, which
//! the `hook_cost` benchmark times.

use cistern_guest::{clock, Context, Error, Event, FunctionInfo, FunctionKind, Guest, Outcome};

struct Misbehave;

const FUNCTIONS: &[&str] = &["trap", "spin", "hog", "fail", "clock"];

impl Guest for Misbehave {
    fn functions() -> Vec<FunctionInfo> {
        FUNCTIONS
            .iter()
            .map(|name| FunctionInfo { name: name.to_string(), hooks: Vec::new(), kind: FunctionKind::Read })
            .collect()
    }

    fn handle(ctx: Context, _event: Event) -> Result<Outcome, Error> {
        match ctx.function.as_str() {
            "trap" => panic!("misbehave: trapping on purpose"),
            "spin" => spin(),
            "hog" => hog(),
            "fail" => Err(Error::Other("misbehave: failing on purpose".into())),
            "clock" => {
                std::hint::black_box(clock::now_ms());
                Ok(Outcome::none())
            }
            other => Err(Error::InvalidInput(format!("no function {other}"))),
        }
    }
}

/// Loops until the host's deadline interrupts it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates until the host's memory cap refuses more.
fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

cistern_guest::export!(Misbehave);
