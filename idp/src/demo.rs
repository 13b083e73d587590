//! Demo data for `portal serve --demo` (SPEC §5): an insurer admin, two head offices (one
//! allowed to work with sub-offices), a sub-office, employees, all active, with one
//! password printed at start. Seeding twice keeps the data and sets a new password.
//! Quotes come with the product portals (issue 7).

use secrecy::SecretString;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto;
use crate::domain::rights::{format_rights, parse_rights};
use crate::domain::{Email, OfficeKind, Role};
use crate::provision::ProvisionError;
use crate::state::Core;
use crate::store::accounts::{self, NewAccount, NewOfficeRecord, NewUserRecord};
use crate::store::audit::AuditRecord;

/// One demo login, printed at start.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// What to type as login name.
    pub login: String,
    /// Who that is.
    pub description: String,
}

struct Person {
    login: &'static str,
    name: &'static str,
    role: Role,
    office: Option<usize>,
    rights: &'static str,
    description: &'static str,
}

struct DemoOffice {
    kind: OfficeKind,
    parent: Option<usize>,
    number: &'static str,
    name: &'static str,
    address: &'static str,
    postcode: &'static str,
    city: &'static str,
    phone: &'static str,
    email: &'static str,
    rights: &'static str,
    allow_sub_offices: bool,
}

const OFFICES: [DemoOffice; 3] = [
    DemoOffice {
        kind: OfficeKind::HeadOffice,
        parent: None,
        number: "12345",
        name: "Voorbeeld Advies",
        address: "Coolsingel 1",
        postcode: "3011 AD",
        city: "Rotterdam",
        phone: "010 123 45 67",
        email: "info@voorbeeldadvies.nl",
        rights: "DIP,DIL,ORV",
        allow_sub_offices: true,
    },
    DemoOffice {
        kind: OfficeKind::SubOffice,
        parent: Some(0),
        number: "Z01",
        name: "Onderbemiddeling Zuid",
        address: "Markt 5",
        postcode: "5611 EB",
        city: "Eindhoven",
        phone: "040 765 43 21",
        email: "zuid@onderbemiddeling.nl",
        rights: "DIP,DIL",
        allow_sub_offices: false,
    },
    DemoOffice {
        kind: OfficeKind::HeadOffice,
        parent: None,
        number: "67890",
        name: "Pensioenhuis Noord",
        address: "Grote Markt 2",
        postcode: "9711 LV",
        city: "Groningen",
        phone: "050 111 22 33",
        email: "info@pensioenhuisnoord.nl",
        rights: "DIL",
        allow_sub_offices: false,
    },
];

const PEOPLE: [Person; 7] = [
    Person {
        login: "beheer@offerteportaal.local",
        name: "Salesdesk Leven",
        role: Role::InsurerAdmin,
        office: None,
        rights: "",
        description: "insurer admin",
    },
    Person {
        login: "info@voorbeeldadvies.nl",
        name: "Nick Jansen",
        role: Role::MainUser,
        office: Some(0),
        rights: "DIP,DIL,ORV",
        description: "main user of head office Voorbeeld Advies (or advisor number 12345)",
    },
    Person {
        login: "ilse@voorbeeldadvies.nl",
        name: "Ilse de Vries",
        role: Role::Employee,
        office: Some(0),
        rights: "DIP,DIL",
        description: "employee of Voorbeeld Advies, DIP+DIL",
    },
    Person {
        login: "zuid@onderbemiddeling.nl",
        name: "Sanne Bakker",
        role: Role::MainUser,
        office: Some(1),
        rights: "DIP,DIL",
        description: "main user of sub-office Onderbemiddeling Zuid",
    },
    Person {
        login: "tim@onderbemiddeling.nl",
        name: "Tim de Boer",
        role: Role::Employee,
        office: Some(1),
        rights: "DIP",
        description: "employee of the sub-office, DIP",
    },
    Person {
        login: "info@pensioenhuisnoord.nl",
        name: "Eva Mulder",
        role: Role::MainUser,
        office: Some(2),
        rights: "DIL",
        description: "main user of head office Pensioenhuis Noord (advisor number 67890), DIL only",
    },
    Person {
        login: "joost@pensioenhuisnoord.nl",
        name: "Joost Visser",
        role: Role::Employee,
        office: Some(2),
        rights: "",
        description: "employee of Pensioenhuis Noord without rights",
    },
];

/// Seeds the demo data (or renews its password) and returns the logins and the password.
pub async fn seed(
    core: &Core,
    now: OffsetDateTime,
) -> Result<(Vec<DemoLogin>, String), ProvisionError> {
    let password = crypto::random_token()?.chars().take(16).collect::<String>();
    let phc = core
        .hasher
        .hash(SecretString::from(password.clone()))
        .await
        .map_err(|e| ProvisionError::Store(crate::store::StoreError::Corrupt(e.to_string())))?;
    let present =
        accounts::head_office_by_number(&core.db, OFFICES[0].number, &core.registry).await?;
    if present.is_none() {
        let ids: Vec<Uuid> = OFFICES.iter().map(|_| Uuid::now_v7()).collect();
        let mut batch = Vec::new();
        let mut office_done = [false; OFFICES.len()];
        for p in &PEOPLE {
            let office = match p.office {
                Some(i) if !office_done[i] => {
                    office_done[i] = true;
                    let o = &OFFICES[i];
                    Some(NewOfficeRecord {
                        id: ids[i],
                        kind: o.kind,
                        parent_id: o.parent.map(|p| ids[p]),
                        advisor_number: (o.kind == OfficeKind::HeadOffice)
                            .then(|| o.number.to_owned()),
                        number: o.number.into(),
                        name: o.name.into(),
                        address: o.address.into(),
                        postcode: o.postcode.into(),
                        city: o.city.into(),
                        phone: o.phone.into(),
                        email: o.email.into(),
                        rights: format_rights(
                            &parse_rights(o.rights, &core.registry)?,
                            &core.registry,
                        ),
                        allow_sub_offices: o.allow_sub_offices,
                    })
                }
                _ => None,
            };
            let id = Uuid::now_v7();
            let mut audit = AuditRecord::new("demo.seeded");
            audit.target_user_id = Some(id);
            audit.target_office_id = p.office.map(|i| ids[i]);
            batch.push(NewAccount {
                office,
                user: NewUserRecord {
                    id,
                    office_id: p.office.map(|i| ids[i]),
                    role: p.role,
                    name: p.name.into(),
                    email: Email::parse(p.login)?.to_string(),
                    rights: format_rights(&parse_rights(p.rights, &core.registry)?, &core.registry),
                    password_hash: Some(phc.clone()),
                },
                token: None,
                mail: None,
                audit,
            });
        }
        accounts::provision(&core.db, &batch, now).await?;
    } else {
        for p in &PEOPLE {
            if let Some(u) =
                accounts::user_by_email(&core.db, &Email::parse(p.login)?, &core.registry).await?
            {
                accounts::set_password_hash(&core.db, u.id, &phc, now).await?;
            }
        }
    }
    let logins = PEOPLE
        .iter()
        .map(|p| DemoLogin {
            login: p.login.into(),
            description: p.description.into(),
        })
        .collect();
    Ok((logins, password))
}

/// A demo person who makes quotes, with the office as its quotes print it (SPEC P2), for
/// seeding the product portals' demo quotes.
#[derive(Debug, Clone)]
pub struct DemoAdvisor {
    /// The user's id (`sub`).
    pub user_id: Uuid,
    /// Name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// `main_user` or `employee`.
    pub role: &'static str,
    /// The user's rights (right codes).
    pub rights: Vec<String>,
    /// The office's id.
    pub office_id: Uuid,
    /// `head_office` or `sub_office`.
    pub office_kind: &'static str,
    /// Its number.
    pub office_number: String,
    /// Its name.
    pub office_name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// The office e-mail.
    pub office_email: String,
    /// The head office (itself for a head office).
    pub head_office_id: Uuid,
    /// The head office's e-mail.
    pub head_office_email: String,
}

/// The seeded demo people who hold product rights, with their offices.
pub async fn advisors(core: &Core) -> Result<Vec<DemoAdvisor>, ProvisionError> {
    let mut out = Vec::new();
    for p in &PEOPLE {
        let Some(i) = p.office else { continue };
        let Some(user) =
            accounts::user_by_email(&core.db, &Email::parse(p.login)?, &core.registry).await?
        else {
            continue;
        };
        let Some(principal) = accounts::principal(&core.db, user.id, &core.registry).await? else {
            continue;
        };
        let Some(office) = principal.office else {
            continue;
        };
        let head = principal.head_office.unwrap_or_else(|| office.clone());
        let o = &OFFICES[i];
        out.push(DemoAdvisor {
            user_id: user.id,
            name: user.name.clone(),
            email: user.email.to_string(),
            role: user.role.as_str(),
            rights: user.rights.iter().map(|r| r.to_string()).collect(),
            office_id: office.id,
            office_kind: match office.kind {
                OfficeKind::HeadOffice => "head_office",
                OfficeKind::SubOffice => "sub_office",
            },
            office_number: office.number.clone(),
            office_name: office.name.clone(),
            address: o.address.into(),
            postcode: o.postcode.into(),
            city: o.city.into(),
            office_email: office.email.to_string(),
            head_office_id: head.id,
            head_office_email: head.email.to_string(),
        });
    }
    Ok(out)
}
