//! The fixed world the patients live in: cities, clinics with their doctors,
//! labs, and the name lists. It does not depend on the seed, so every data set
//! has the same doctors, clinics and labs under the same ids.

use crate::json::push_json_string;
use crate::rng::{Rng, Tag};

/// A city, with postcode districts to build plausible addresses from.
pub(crate) struct City {
    pub name: &'static str,
    pub outward: &'static [&'static str],
    /// Districts: one lab in each.
    pub districts: &'static [&'static str],
}

pub(crate) const CITIES: &[City] = &[
    City {
        name: "London",
        outward: &[
            "NW1", "N1", "N7", "E1", "E8", "SE1", "SE15", "SW4", "SW11", "W1", "W2", "WC1", "EC1",
        ],
        districts: &[
            "Marylebone",
            "Shoreditch",
            "Clapham",
            "Camden",
            "Canary Wharf",
            "Hammersmith",
            "Islington",
            "Greenwich",
        ],
    },
    City {
        name: "Manchester",
        outward: &["M1", "M4", "M14", "M20", "M21"],
        districts: &["Piccadilly", "Didsbury", "Salford Quays", "Ancoats"],
    },
    City {
        name: "Birmingham",
        outward: &["B1", "B5", "B13", "B15", "B29"],
        districts: &["Edgbaston", "Digbeth", "Moseley", "Jewellery Quarter"],
    },
    City {
        name: "Leeds",
        outward: &["LS1", "LS2", "LS6", "LS8"],
        districts: &["Headingley", "Holbeck", "Roundhay"],
    },
    City {
        name: "Glasgow",
        outward: &["G1", "G3", "G12", "G41"],
        districts: &["Merchant City", "West End", "Govan"],
    },
    City {
        name: "Edinburgh",
        outward: &["EH1", "EH3", "EH6", "EH10"],
        districts: &["Leith", "Bruntsfield", "Stockbridge"],
    },
    City {
        name: "Bristol",
        outward: &["BS1", "BS6", "BS8"],
        districts: &["Clifton", "Bedminster", "Temple Quay"],
    },
    City {
        name: "Liverpool",
        outward: &["L1", "L8", "L17", "L18"],
        districts: &["Baltic Triangle", "Allerton", "Knowledge Quarter"],
    },
    City {
        name: "Cardiff",
        outward: &["CF10", "CF11", "CF14", "CF24"],
        districts: &["Cathays", "Cardiff Bay"],
    },
    City {
        name: "Newcastle upon Tyne",
        outward: &["NE1", "NE2", "NE4", "NE6"],
        districts: &["Jesmond", "Quayside", "Gosforth"],
    },
    City {
        name: "Sheffield",
        outward: &["S1", "S7", "S10", "S11"],
        districts: &["Kelham Island", "Broomhill"],
    },
    City {
        name: "Nottingham",
        outward: &["NG1", "NG5", "NG7", "NG9"],
        districts: &["Lace Market", "Beeston"],
    },
];

/// Clinics and the index of their city in `CITIES`.
const CLINICS: &[(&str, usize)] = &[
    ("OVŌM Care Marylebone", 0),
    ("OVŌM Care Shoreditch", 0),
    ("OVŌM Care Clapham", 0),
    ("Harley Street Fertility Clinic", 0),
    ("Thames Women's Health", 0),
    ("Camden Reproductive Medicine", 0),
    ("OVŌM Care Manchester", 1),
    ("Deansgate Fertility Centre", 1),
    ("Didsbury Family Clinic", 1),
    ("OVŌM Care Birmingham", 2),
    ("Edgbaston Women's Clinic", 2),
    ("Moseley Fertility Practice", 2),
    ("OVŌM Care Leeds", 3),
    ("Headingley Health Centre", 3),
    ("OVŌM Care Glasgow", 4),
    ("Clyde Fertility Clinic", 4),
    ("OVŌM Care Edinburgh", 5),
    ("Bruntsfield Women's Health", 5),
    ("OVŌM Care Bristol", 6),
    ("Clifton Fertility Centre", 6),
    ("Mersey Reproductive Clinic", 7),
    ("Taff Valley Fertility Clinic", 8),
    ("Tyneside Women's Clinic", 9),
    ("Hallam Fertility Centre", 10),
    ("Trent Reproductive Health", 11),
];

const LAB_BRANDS: &[&str] = &[
    "Meridian Pathology",
    "Northgate Diagnostics",
    "Albion Clinical Labs",
    "Beacon Bioanalytics",
    "Crescent Laboratories",
    "Kestrel Diagnostics",
    "Thistle Pathology",
    "Severn Labs",
];

#[rustfmt::skip]
pub(crate) const FEMALE_FIRST: &[&str] = &[
    "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophia", "Grace", "Mia", "Poppy", "Ella", "Lily", "Evie",
    "Isabella", "Sophie", "Jessica", "Charlotte", "Freya", "Ruby", "Chloe", "Hannah", "Lucy", "Emma",
    "Sarah", "Laura", "Rebecca", "Rachel", "Katie", "Gemma", "Hayley", "Natalie", "Victoria", "Claire",
    "Amy", "Jennifer", "Nicola", "Helen", "Joanna", "Kirsty", "Leanne", "Stacey", "Aoife", "Niamh",
    "Siobhán", "Siân", "Zoë", "Chloé", "Renée", "Priya", "Aisha", "Fatima", "Amira", "Zara", "Anjali",
    "Sana", "Mei", "Yuki", "Agnieszka", "Katarzyna", "Olga", "Elena", "Maria", "Ana", "Ioana", "Chiamaka",
    "Ngozi", "Abena", "Thandiwe", "Leila", "Yasmin", "Noor", "Hana", "Ingrid", "Astrid", "Léa", "Camille",
    "Giulia", "Francesca", "Eilidh", "Morag", "Rhiannon", "Ffion", "Carys", "Megan", "Bethan", "Alice",
    "Eleanor", "Harriet", "Imogen", "Jasmine",
];

#[rustfmt::skip]
pub(crate) const MALE_FIRST: &[&str] = &[
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas", "Oscar", "William", "James",
    "Daniel", "Matthew", "Samuel", "Joseph", "David", "Michael", "Christopher", "Andrew", "Mark", "Paul",
    "Richard", "Stephen", "Gareth", "Rhys", "Dafydd", "Callum", "Hamish", "Euan", "Ciarán", "Seán",
    "Declan", "Mohammed", "Ahmed", "Omar", "Yusuf", "Arjun", "Rohan", "Vikram", "Raj", "Hiroshi", "Wei",
    "Tomasz", "Piotr", "Andrzej", "Luca", "Marco", "Mateo", "José", "Chinedu", "Kwame", "Tunde", "Lars",
    "Björn", "Mehmet", "Ali", "Hassan", "Ibrahim", "Aled", "Iain", "Fraser", "Robert", "Peter", "Simon",
    "Adam", "Ben", "Leo", "Finn",
];

#[rustfmt::skip]
pub(crate) const LAST: &[&str] = &[
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
    "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
    "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
    "Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan", "Allen", "James", "Scott",
    "Phillips", "Watson", "Davis", "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly",
    "Cook", "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox",
    "Richards", "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams", "Singh", "Begum", "Wilkinson",
    "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason", "Ali", "Hunt", "Hussain", "Campbell",
    "Matthews", "Owen", "Palmer", "Holmes", "Mills", "Barnes", "Knight", "Lloyd", "Butler", "Russell",
    "Barker", "Fisher", "Stevens", "Jenkins", "Murray", "Dixon", "Harvey", "Graham", "Pearson", "Ahmed",
    "Fletcher", "Walsh", "Kaur", "Gibson", "Howard", "Andrews", "Stewart", "Elliott", "Reynolds",
    "Saunders", "Payne", "Fox", "Ford", "Pearce", "Day", "Brooks", "West", "Lawrence", "Cole", "Atkinson",
    "Bradley", "Spencer", "Gill", "Dawson", "Ball", "Burton", "O'Brien", "O'Connor", "O'Neill", "McDonald",
    "MacLeod", "Fraser", "Sutherland", "Nowak", "Kowalski", "Rossi", "García", "Fernández", "Müller",
    "Schmidt", "Nguyen", "Chen", "Wang", "Okafor", "Adeyemi", "Mensah", "Osei", "Yılmaz", "Kaya",
    "Papadopoulos", "Ó Súilleabháin", "Lindqvist", "Dubois", "Novák",
];

#[rustfmt::skip]
pub(crate) const STREETS: &[&str] = &[
    "High Street", "Station Road", "Main Street", "Park Road", "Church Road", "Church Street",
    "London Road", "Victoria Road", "Green Lane", "Manor Road", "Church Lane", "Park Avenue", "The Avenue",
    "Queens Road", "New Road", "Grange Road", "Kings Road", "Kingsway", "Windsor Road", "Highfield Road",
    "Mill Lane", "Alexandra Road", "York Road", "St John's Road", "Main Road", "Broadway", "King Street",
    "The Green", "Springfield Road", "George Street", "Park Lane", "Victoria Street", "Albert Road",
    "Queensway", "New Street", "Queen Street", "West Street", "North Street", "Manchester Road",
    "The Crescent", "Baker Street", "Oxford Road", "Elm Grove", "Chestnut Close", "Willow Way",
    "Orchard Close", "Mill Road", "Cedar Avenue", "Beech Road", "Meadow Way", "Riverside Drive",
    "Canal Street", "Castle Street", "Bridge Street", "School Lane", "Albion Street", "Duke Street",
    "Princes Street", "Regent Street", "Market Street",
];

/// House names, written in quotes as some records have them.
pub(crate) const HOUSE_NAMES: &[&str] = &[
    "The Old Rectory",
    "Rose Cottage",
    "Ivy House",
    "The Willows",
    "Hillcrest",
];

/// Letters a UK inward postcode may end with.
pub(crate) const POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

pub(crate) struct Clinic {
    pub city: usize,
    /// Indices into `World::doctors`.
    pub doctors: Vec<usize>,
}

pub(crate) struct Doctor {
    pub clinic: usize,
    /// `"doc_id":N` value, name and clinic, JSON-ready.
    pub id: u64,
    pub name_json: Vec<u8>,
    pub clinic_json: Vec<u8>,
}

pub(crate) struct Lab {
    pub city: usize,
    pub id: u64,
    pub name_json: Vec<u8>,
    pub city_json: Vec<u8>,
}

pub(crate) struct World {
    pub clinics: Vec<Clinic>,
    /// Cumulative popularity of clinics, for a patient's choice of clinic.
    pub clinic_weights: Vec<f64>,
    pub doctors: Vec<Doctor>,
    pub labs: Vec<Lab>,
    /// Indices into `labs`, per city.
    pub labs_by_city: Vec<Vec<usize>>,
}

pub(crate) const DOCTORS: usize = 120;

fn json(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    push_json_string(&mut v, s);
    v
}

impl World {
    /// The world, always the same.
    pub(crate) fn build() -> World {
        let mut rng = Rng::stream(0x0F0E_C0DE, Tag::World, 0);
        // Doctors per clinic: three each, the rest spread by popularity, the
        // company's own clinics being busier.
        let popularity: Vec<f64> = CLINICS
            .iter()
            .map(|(name, _)| if name.starts_with("OVŌM") { 2.0 } else { 1.0 } + rng.f64())
            .collect();
        let mut cumulative = Vec::with_capacity(popularity.len());
        let mut acc = 0.0;
        for p in &popularity {
            acc += p;
            cumulative.push(acc);
        }
        let mut sizes = vec![3usize; CLINICS.len()];
        for _ in 0..DOCTORS - 3 * CLINICS.len() {
            sizes[rng.pick_cumulative(&cumulative)] += 1;
        }
        let mut clinics = Vec::with_capacity(CLINICS.len());
        let mut doctors = Vec::with_capacity(DOCTORS);
        let mut names: Vec<String> = Vec::with_capacity(DOCTORS);
        for (c, &(clinic_name, city)) in CLINICS.iter().enumerate() {
            let mut members = Vec::with_capacity(sizes[c]);
            for _ in 0..sizes[c] {
                let name = loop {
                    let first = if rng.chance(0.6) {
                        FEMALE_FIRST
                    } else {
                        MALE_FIRST
                    };
                    let name = format!(
                        "Dr {} {}",
                        first[rng.index(first.len())],
                        LAST[rng.index(LAST.len())]
                    );
                    if !names.contains(&name) {
                        break name;
                    }
                };
                members.push(doctors.len());
                doctors.push(Doctor {
                    clinic: c,
                    id: doctors.len() as u64 + 1,
                    name_json: json(&name),
                    clinic_json: json(clinic_name),
                });
                names.push(name);
            }
            clinics.push(Clinic {
                city,
                doctors: members,
            });
        }
        // Clinics' share of patients follows their number of doctors.
        let mut clinic_weights = Vec::with_capacity(clinics.len());
        let mut acc = 0.0;
        for c in &clinics {
            acc += c.doctors.len() as f64;
            clinic_weights.push(acc);
        }
        let mut labs = Vec::new();
        let mut labs_by_city = Vec::with_capacity(CITIES.len());
        for (ci, city) in CITIES.iter().enumerate() {
            let mut here = Vec::with_capacity(city.districts.len());
            for district in city.districts {
                let brand = LAB_BRANDS[rng.index(LAB_BRANDS.len())];
                here.push(labs.len());
                labs.push(Lab {
                    city: ci,
                    id: labs.len() as u64 + 1,
                    name_json: json(&format!("{brand} {district}")),
                    city_json: json(city.name),
                });
            }
            labs_by_city.push(here);
        }
        World {
            clinics,
            clinic_weights,
            doctors,
            labs,
            labs_by_city,
        }
    }
}
