//! The office tree and its people, planned in memory before anything is written.
//!
//! Head offices come first in a tree's block, then their sub-offices (SPEC O1–O4); each
//! office has exactly one main user (U1) whose login is also the office e-mail, then its
//! employees. Sizes are skewed the way a broker market is: a few chains with a hundred
//! sub-offices and hundreds of people, many one-person offices.

use anyhow::{Result, bail};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::names;
use super::rng::Rng;

/// Right bits, in registry order (`config/products.toml`).
pub const DIP: u8 = 1;
/// Direct Ingaande Lijfrente.
pub const DIL: u8 = 2;
/// Overlijdensrisicoverzekering; never held by sub-offices (O4: `sub_offices = false`).
pub const ORV: u8 = 4;
/// Every right, with its code, in registry order.
pub const RIGHTS: [(u8, &str); 3] = [(DIP, "DIP"), (DIL, "DIL"), (ORV, "ORV")];

/// The stored form of a set of rights: codes in registry order, comma-separated.
pub fn rights_text(bits: u8) -> String {
    RIGHTS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect::<Vec<_>>()
        .join(",")
}

/// The domain every generated login is in.
pub const DOMAIN: &str = "bench.example";

/// The login of user number `n` (1-based).
pub fn login(n: usize) -> String {
    format!("user{n}@{DOMAIN}")
}

/// The login of the insurer admin.
pub fn admin_login() -> String {
    format!("admin@{DOMAIN}")
}

/// How much to make.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Users in offices (main users and employees).
    pub users: usize,
    /// Offices (head and sub).
    pub offices: usize,
    /// Of which head offices.
    pub head_offices: usize,
    /// Quotes.
    pub quotes: usize,
    /// OIDC clients.
    pub clients: usize,
}

/// An office to write.
#[derive(Debug, Clone)]
pub struct Office {
    /// Id (UUIDv7 of its creation time).
    pub id: Uuid,
    /// Whether it is a head office.
    pub head: bool,
    /// Index of its head office in [`Plan::offices`] (itself for a head office).
    pub head_index: usize,
    /// Advisor number (head offices) or the sub-office's own number.
    pub number: String,
    /// Naam.
    pub name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// Telefoon.
    pub phone: String,
    /// The office e-mail: its main user's login.
    pub email: String,
    /// Right bits.
    pub rights: u8,
    /// O2.
    pub allow_sub_offices: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Its sub-offices (head offices).
    pub subs: usize,
    /// Index of its main user in [`Plan::users`].
    pub main_user: usize,
    /// Its users: indexes `first_user..first_user + user_count`.
    pub first_user: usize,
    /// How many users it has.
    pub user_count: usize,
}

/// A user to write.
#[derive(Debug, Clone)]
pub struct User {
    /// Id (the `sub`).
    pub id: Uuid,
    /// `user{n}@bench.example`.
    pub n: usize,
    /// Index of its office in [`Plan::offices`].
    pub office: usize,
    /// Main user of its office (else employee).
    pub main: bool,
    /// Name.
    pub name: String,
    /// Stored right bits.
    pub rights: u8,
    /// The rights its tokens carry (U4): what it can quote.
    pub effective: u8,
    /// When it was created (and activated).
    pub created_at: OffsetDateTime,
}

impl User {
    /// Its login.
    pub fn email(&self) -> String {
        login(self.n)
    }

    /// The stored role.
    pub fn role(&self) -> &'static str {
        if self.main { "main_user" } else { "employee" }
    }
}

/// Everything of the idp's side.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Offices, each head office followed by its sub-offices.
    pub offices: Vec<Office>,
    /// Users, by office.
    pub users: Vec<User>,
    /// The insurer admin.
    pub admin_id: Uuid,
    /// When the admin was created.
    pub admin_created_at: OffsetDateTime,
}

/// A UUIDv7 for `at` with random bits from `rng`.
pub fn uuid_v7(at: OffsetDateTime, rng: &mut Rng) -> Uuid {
    let millis = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &rng.bytes10()).into_uuid()
}

/// Splits `total` over `weights` in whole numbers (largest remainder), so the parts add up.
pub fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut parts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let given: usize = parts.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().take(total.saturating_sub(given)) {
        parts[i] += 1;
    }
    parts
}

/// Plans the offices and users. `origin` is when the first office was created; every
/// office and user exists before `origin + 400 days`.
pub fn plan(sizes: &Sizes, origin: OffsetDateTime, seed: u64) -> Result<Plan> {
    let heads = sizes.head_offices;
    if heads == 0 || heads > sizes.offices {
        bail!(
            "--head-offices must be between 1 and --offices ({})",
            sizes.offices
        );
    }
    if sizes.users < sizes.offices {
        bail!(
            "every office needs its main user: --users ({}) must be at least --offices ({})",
            sizes.users,
            sizes.offices
        );
    }
    let mut rng = Rng::fork(seed, 1);
    let subs_total = sizes.offices - heads;

    // Sub-offices: the heads that have any (60 %) get them Zipf-like (weight 1/rank^0.6), in
    // random order, so the biggest chains are spread over the list.
    let with_subs = if subs_total == 0 {
        0
    } else {
        ((heads as f64 * 0.6).ceil() as usize).clamp(1, heads)
    };
    let mut ranks: Vec<usize> = (0..heads).collect();
    for i in (1..ranks.len()).rev() {
        let j = rng.index(i + 1);
        ranks.swap(i, j);
    }
    let zipf: Vec<f64> = ranks
        .iter()
        .map(|&r| {
            if r < with_subs {
                1.0 / ((r + 1) as f64).powf(0.6)
            } else {
                0.0
            }
        })
        .collect();
    let subs_of = apportion(subs_total, &zipf);

    // Employees: heads weigh more, the more so the bigger their chain; every office gets
    // a random factor, so one-person offices and crowded ones exist side by side.
    let employees = sizes.users - sizes.offices;
    let mut weights = Vec::with_capacity(sizes.offices);
    for &s in &subs_of {
        weights.push((2.0 + 0.25 * s as f64) * (0.25 + 1.5 * rng.unit()));
        for _ in 0..s {
            weights.push(0.25 + 1.5 * rng.unit());
        }
    }
    let employees_of = apportion(employees, &weights);

    let mut offices = Vec::with_capacity(sizes.offices);
    let mut users = Vec::with_capacity(sizes.users);
    let step = Duration::seconds((400 * 86_400 / sizes.offices.max(1)) as i64);
    let mut k = 0usize;
    for (h, &s) in subs_of.iter().enumerate() {
        let head_index = offices.len();
        let (city, pp, area) = names::city(&mut rng);
        let mut rights = match rng.unit() {
            x if x < 0.70 => DIP | DIL | ORV,
            x if x < 0.85 => DIP | DIL,
            x if x < 0.93 => DIL | ORV,
            x if x < 0.97 => DIP,
            _ => ORV,
        };
        if s > 0 && rights & (DIP | DIL) == 0 {
            rights = DIP | DIL | ORV;
        }
        let created = origin + step * k as i32;
        let name = names::office(&mut rng, city);
        let office = Office {
            id: uuid_v7(created, &mut rng),
            head: true,
            head_index,
            number: format!("{}", 10_000_000 + h + 1),
            name: name.clone(),
            address: names::address(&mut rng),
            postcode: names::postcode(&mut rng, pp),
            city: city.to_owned(),
            phone: names::phone(&mut rng, area),
            email: String::new(),
            rights,
            allow_sub_offices: s > 0 || rng.chance(0.1),
            created_at: created,
            subs: s,
            main_user: 0,
            first_user: 0,
            user_count: 0,
        };
        push_office(&mut offices, &mut users, &mut rng, office, employees_of[k]);
        k += 1;
        for j in 0..s {
            let (city, pp, area) = names::city(&mut rng);
            let mut sub_rights = rights & (DIP | DIL);
            if sub_rights == DIP | DIL && rng.chance(0.2) {
                sub_rights = if rng.chance(0.5) { DIP } else { DIL };
            }
            let created = origin + step * k as i32;
            let office = Office {
                id: uuid_v7(created, &mut rng),
                head: false,
                head_index,
                number: format!("S{:03}", j + 1),
                name: format!("{name} {city}"),
                address: names::address(&mut rng),
                postcode: names::postcode(&mut rng, pp),
                city: city.to_owned(),
                phone: names::phone(&mut rng, area),
                email: String::new(),
                rights: sub_rights,
                allow_sub_offices: false,
                created_at: created,
                subs: 0,
                main_user: 0,
                first_user: 0,
                user_count: 0,
            };
            push_office(&mut offices, &mut users, &mut rng, office, employees_of[k]);
            k += 1;
        }
    }
    let admin_created_at = origin - Duration::days(1);
    Ok(Plan {
        offices,
        users,
        admin_id: uuid_v7(admin_created_at, &mut rng),
        admin_created_at,
    })
}

/// Adds `office` with its main user and `employees` employees.
fn push_office(
    offices: &mut Vec<Office>,
    users: &mut Vec<User>,
    rng: &mut Rng,
    mut office: Office,
    employees: usize,
) {
    let index = offices.len();
    office.first_user = users.len();
    office.main_user = users.len();
    office.user_count = employees + 1;
    office.email = login(users.len() + 1);
    for e in 0..=employees {
        let main = e == 0;
        let rights = if main {
            office.rights
        } else {
            match rng.unit() {
                x if x < 0.75 => office.rights,
                x if x < 0.92 => {
                    let held: Vec<u8> = RIGHTS
                        .iter()
                        .map(|(b, _)| *b)
                        .filter(|b| office.rights & b != 0)
                        .collect();
                    if held.is_empty() { 0 } else { *rng.pick(&held) }
                }
                _ => 0,
            }
        };
        // U4: a main user holds its office's rights; an employee what it was given of
        // them. Sub-office rights already lie within the head's and exclude ORV (O4).
        let effective = if main {
            office.rights
        } else {
            rights & office.rights
        };
        let created = office.created_at + Duration::seconds(e as i64 + 1);
        users.push(User {
            id: uuid_v7(created, rng),
            n: users.len() + 1,
            office: index,
            main,
            name: names::person(rng),
            rights,
            effective,
            created_at: created,
        });
    }
    offices.push(office);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn apportion_adds_up() {
        assert_eq!(apportion(10, &[1.0, 1.0, 2.0]).iter().sum::<usize>(), 10);
        assert_eq!(apportion(3, &[0.0, 1.0]), vec![0, 3]);
        assert_eq!(apportion(5, &[]), Vec::<usize>::new());
    }

    #[test]
    fn the_plan_keeps_the_rules() {
        let sizes = Sizes {
            users: 1000,
            offices: 100,
            head_offices: 25,
            quotes: 0,
            clients: 0,
        };
        let p = plan(&sizes, OffsetDateTime::UNIX_EPOCH, 42).unwrap();
        assert_eq!(p.offices.len(), 100);
        assert_eq!(p.users.len(), 1000);
        assert_eq!(p.offices.iter().filter(|o| o.head).count(), 25);
        for (i, o) in p.offices.iter().enumerate() {
            let head = &p.offices[o.head_index];
            assert!(head.head);
            assert_eq!(o.head, o.head_index == i);
            if !o.head {
                assert!(head.allow_sub_offices, "O2");
                assert_eq!(o.rights & ORV, 0, "O4");
                assert_eq!(o.rights & !head.rights, 0, "O4");
                assert_ne!(o.rights, 0);
            }
            let main = &p.users[o.main_user];
            assert!(main.main && main.office == i);
            assert_eq!(o.email, main.email());
            let mine = &p.users[o.first_user..o.first_user + o.user_count];
            assert_eq!(mine.iter().filter(|u| u.main).count(), 1, "U1");
            for u in mine {
                assert_eq!(u.office, i);
                assert_eq!(u.rights & !o.rights, 0, "U4");
            }
        }
        for (i, u) in p.users.iter().enumerate() {
            assert_eq!(u.n, i + 1);
        }
        assert_eq!(rights_text(DIP | ORV), "DIP,ORV");
        assert_eq!(rights_text(0), "");
    }
}
