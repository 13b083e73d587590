//! The dashboards' reads on both databases (SPEC P4, SECURITY AC-03): every SQL text of
//! `store::quotes::list` and `offices` (one per scope kind, with or without a quote number
//! or an office asked for, with the products in slots or, beyond eight, in one text)
//! returns the scope's quotes only, newest first, filtered as asked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use product_adapters::scope::Scope;
use product_adapters::store::ProductDb;
use product_adapters::store::outbox::{NewProductMail, ProductMail};
use product_adapters::store::quotes::{
    self, Advisor, ListFilter, NewApplication, NewQuote, OfficeSnapshot,
};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = time::macros::datetime!(2026-03-01 09:00:00 UTC);

struct Tree {
    head: Uuid,
    sub: Uuid,
    other: Uuid,
}

fn office(id: Uuid, head: Uuid, name: &str) -> OfficeSnapshot {
    OfficeSnapshot {
        id,
        head_office_id: head,
        kind: if id == head {
            "head_office"
        } else {
            "sub_office"
        }
        .into(),
        number: name.to_uppercase(),
        name: name.into(),
        address: "Dorpsstraat 1".into(),
        postcode: "1234 AB".into(),
        city: "Utrecht".into(),
        email: format!("{name}@example.nl"),
        head_office_email: "head@example.nl".into(),
    }
}

/// Stores a quote of `product` by `office` for `client`, `minutes` after T0; returns
/// (id, its number).
async fn quote(
    db: &ProductDb,
    office: &OfficeSnapshot,
    product: &str,
    client: &str,
    minutes: i64,
) -> (Uuid, String) {
    let q = NewQuote {
        id: Uuid::now_v7(),
        product: product.into(),
        variant: product.into(),
        office: office.clone(),
        advisor: Advisor {
            id: Uuid::now_v7(),
            name: "Adviseur".into(),
            email: "adviseur@example.nl".into(),
            role: "employee".into(),
        },
        client_name: client.into(),
        tariff_version: "T-1".into(),
        request: serde_json::json!({}),
        result: serde_json::json!({}),
        amount_cents: 100,
    };
    let seq = quotes::next_number(db, product).await.unwrap();
    quotes::create(db, &q, seq, None, T0 + Duration::minutes(minutes))
        .await
        .unwrap();
    (q.id, quotes::quote_number(product, seq))
}

async fn open(db: &TestDatabase) -> ProductDb {
    let store = ProductDb::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn filter(products: &[&str]) -> ListFilter {
    ListFilter {
        products: products.iter().map(|p| (*p).to_owned()).collect(),
        applied: None,
        search: None,
        office_id: None,
        page: 1,
        limit: 25,
    }
}

async fn clients(db: &ProductDb, f: &ListFilter, scope: &Scope) -> Vec<String> {
    quotes::list(db, f, scope)
        .await
        .unwrap()
        .quotes
        .into_iter()
        .map(|q| q.client_name)
        .collect()
}

testkit::both_databases! {
    async fn every_dashboard_text_reads_its_scope_newest_first(db: &TestDatabase) {
        let db = open(db).await;
        let t = Tree { head: Uuid::now_v7(), sub: Uuid::now_v7(), other: Uuid::now_v7() };
        let head = office(t.head, t.head, "hoofd");
        let sub = office(t.sub, t.head, "sub");
        let other = office(t.other, t.other, "ander");
        let (_, een_number) = quote(&db, &head, "DIP", "Klant Een", 1).await;
        quote(&db, &sub, "DIL", "Klant Twee", 2).await;
        quote(&db, &other, "DIP", "Klant Drie", 3).await;
        quote(&db, &head, "ORV", "Klant Vier", 4).await;
        let (vijf, _) = quote(&db, &sub, "DIP", "Klant Vijf", 5).await;
        let mail = NewProductMail {
            id: Uuid::now_v7(),
            kind: "application",
            mail: ProductMail {
                to: vec!["sub@example.nl".into()], cc: Vec::new(), subject: "Aanvraag".into(),
                text: String::new(), html: String::new(), attachment: None, attachment_name: None,
            },
        };
        let application = NewApplication {
            id: Uuid::now_v7(), quote_id: vijf, product: "DIP".into(),
            applicant_name: "Klant Vijf".into(), applicant_address: "Dorpsstraat 1".into(),
            applicant_postcode: "1234 AB".into(), applicant_city: "Utrecht".into(),
            applicant_iban: "NL91 ABNA 0417 1643 00".into(), result: serde_json::json!({}),
            user_id: Uuid::now_v7(), user_name: "Adviseur".into(),
        };
        quotes::apply(&db, &application, &mail, T0 + Duration::minutes(6)).await.unwrap();

        let tree = Scope::Tree(t.head);
        let own = Scope::Office(t.sub);
        let dd = filter(&["DIP", "DIL"]);
        assert_eq!(clients(&db, &dd, &tree).await, ["Klant Vijf", "Klant Twee", "Klant Een"]);
        assert_eq!(clients(&db, &dd, &own).await, ["Klant Vijf", "Klant Twee"]);
        assert_eq!(clients(&db, &filter(&["ORV"]), &tree).await, ["Klant Vier"]);
        assert!(clients(&db, &filter(&["ORV"]), &own).await.is_empty());

        // One office of the tree; an office outside the scope gives nothing.
        let of = |o: Uuid| ListFilter { office_id: Some(o), ..dd.clone() };
        assert_eq!(clients(&db, &of(t.sub), &tree).await, ["Klant Vijf", "Klant Twee"]);
        assert_eq!(clients(&db, &of(t.head), &tree).await, ["Klant Een"]);
        assert!(clients(&db, &of(t.other), &tree).await.is_empty());
        assert!(clients(&db, &of(t.head), &own).await.is_empty());

        // A quote number, a part of a name, applied or not.
        let search = |s: &str| ListFilter { search: Some(s.into()), ..dd.clone() };
        assert_eq!(clients(&db, &search(&een_number), &tree).await, ["Klant Een"]);
        assert!(clients(&db, &search(&een_number), &own).await.is_empty());
        let by_number_in_office = ListFilter { office_id: Some(t.sub), ..search(&een_number) };
        assert!(clients(&db, &by_number_in_office, &tree).await.is_empty());
        assert_eq!(clients(&db, &search("TWEE"), &tree).await, ["Klant Twee"]);
        let applied = |a: bool| ListFilter { applied: Some(a), ..dd.clone() };
        assert_eq!(clients(&db, &applied(true), &tree).await, ["Klant Vijf"]);
        assert_eq!(clients(&db, &applied(false), &tree).await, ["Klant Twee", "Klant Een"]);
        let with_application = quotes::list(&db, &applied(true), &tree).await.unwrap();
        assert!(with_application.quotes[0].application.is_some());

        // More products than slots: the same answers from the other text.
        let many = filter(&["DIP", "DIL", "ORV", "AA1", "AA2", "AA3", "AA4", "AA5", "AA6"]);
        assert_eq!(
            clients(&db, &many, &tree).await,
            ["Klant Vijf", "Klant Vier", "Klant Twee", "Klant Een"]
        );
        assert_eq!(clients(&db, &ListFilter { office_id: Some(t.head), ..many.clone() }, &tree).await, ["Klant Vier", "Klant Een"]);
        assert_eq!(clients(&db, &ListFilter { search: Some(een_number.clone()), ..many.clone() }, &tree).await, ["Klant Een"]);
        assert_eq!(clients(&db, &many, &own).await, ["Klant Vijf", "Klant Twee"]);

        // Pages cut one order.
        let page = |n: u32| ListFilter { page: n, limit: 2, ..many.clone() };
        let first = quotes::list(&db, &page(1), &tree).await.unwrap();
        let second = quotes::list(&db, &page(2), &tree).await.unwrap();
        assert!(first.more && !second.more);
        let paged: Vec<String> = first.quotes.into_iter().chain(second.quotes).map(|q| q.client_name).collect();
        assert_eq!(paged, ["Klant Vijf", "Klant Vier", "Klant Twee", "Klant Een"]);

        // The office filter's list: the tree's offices by name, or the office's own.
        let names = |v: Vec<(Uuid, String)>| v.into_iter().map(|(_, n)| n).collect::<Vec<_>>();
        let dd_products = dd.products.clone();
        assert_eq!(names(quotes::offices(&db, &dd_products, &tree).await.unwrap()), ["hoofd (HOOFD)", "sub (SUB)"]);
        assert_eq!(names(quotes::offices(&db, &dd_products, &own).await.unwrap()), ["sub (SUB)"]);
        assert_eq!(names(quotes::offices(&db, &["ORV".to_owned()], &own).await.unwrap()), Vec::<String>::new());
        assert_eq!(names(quotes::offices(&db, &many.products, &tree).await.unwrap()), ["hoofd (HOOFD)", "sub (SUB)"]);
    }
}
