#!/usr/bin/env python3
"""Generate the sandbox EHR's synthetic FHIR R4 data set (fhir-profiles/sandbox/*.json).

Everything here is invented for development and testing: the hospital, the people, the
identifiers, the phone numbers (555-01xx, reserved for fiction) and the addresses. No line
comes from a real record. The output is deterministic: run it again and nothing changes.

    python3 fhir-profiles/generate_sandbox.py   # rewrites fhir-profiles/sandbox/*.json

The chartdesk test-suite checks that every file parses as FHIR R4 (via fhir-sdk's R4B
models) and that the counts the sandbox promises (12+ patients, 8+ practitioners, 7 roles,
3+ departments) still hold.
"""
import json
import os
from datetime import datetime, timedelta, timezone

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox")
ANCHOR = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
ORG_SYSTEM = "http://riverbend.example.org/fhir"
SYNTHETIC_TAG = {
    "system": "http://riverbend.example.org/fhir/CodeSystem/data-origin",
    "code": "synthetic",
    "display": "Synthetic sandbox data - not a real person",
}
ROLE_SYSTEM = ORG_SYSTEM + "/CodeSystem/ehr-role"
HL7_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def meta():
    return {"tag": [SYNTHETIC_TAG]}


def bundle(resources):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "%s/%s" % (r["resourceType"], r["id"]), "resource": r} for r in resources],
    }


organization = {
    "resourceType": "Organization",
    "id": "org-riverbend",
    "meta": meta(),
    "active": True,
    "name": "Riverbend General Hospital (synthetic)",
    "telecom": [{"system": "phone", "value": "555-0100", "use": "work"}],
    "address": [{"line": ["1 Example Way"], "city": "Riverbend", "state": "ZZ", "postalCode": "00000"}],
}

# Departments and units (Location, mode=instance, physicalType=wa|ro|bd).
UNITS = [
    ("loc-4w", "4 West Medical-Surgical", "4W", "HU", "Hospital unit", "555-0141"),
    ("loc-micu", "Medical Intensive Care Unit", "MICU", "ICU", "Intensive care unit", "555-0142"),
    ("loc-ed", "Emergency Department", "ED", "ER", "Emergency room", "555-0143"),
    ("loc-pharm", "Inpatient Pharmacy", "PHARM", "PHARM", "Pharmacy", "555-0144"),
    ("loc-ci", "Clinical Informatics", "CI", "HOSP", "Hospital", "555-0145"),
    ("loc-it", "IT Service Desk", "ITSD", "HOSP", "Hospital", "555-0146"),
    ("loc-priv", "Compliance & Privacy Office", "PRIV", "HOSP", "Hospital", "555-0147"),
]
locations = []
for lid, name, alias, code, display, phone in UNITS:
    locations.append({
        "resourceType": "Location",
        "id": lid,
        "meta": meta(),
        "status": "active",
        "name": name,
        "alias": [alias],
        "mode": "instance",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": code, "display": display}]}],
        "telecom": [{"system": "phone", "value": phone, "use": "work"}],
        "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "wa", "display": "Ward"}]},
        "managingOrganization": {"reference": "Organization/org-riverbend"},
    })

BEDS = {}


def bed(unit_id, room, letter):
    bid = "%s-%s%s" % (unit_id, room, letter.lower())
    if bid not in BEDS:
        unit = next(u for u in UNITS if u[0] == unit_id)
        BEDS[bid] = {
            "resourceType": "Location",
            "id": bid,
            "meta": meta(),
            "status": "active",
            "name": "%s Room %s Bed %s" % (unit[2], room, letter),
            "mode": "instance",
            "physicalType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": "bd", "display": "Bed"}]},
            "partOf": {"reference": "Location/%s" % unit_id},
            "managingOrganization": {"reference": "Organization/org-riverbend"},
        }
    return bid


# id, given, family, prefix, suffix, gender, npi, hl7 role, ehr role code, ehr role display, unit, phone
STAFF = [
    ("pr-hmarsh", "Helena", "Marsh", "Dr.", "MD", "female", "1000000001", "doctor", "PHYSICIAN", "Attending physician", "loc-micu", "555-0151"),
    ("pr-awhitfield", "Ana", "Whitfield", "Dr.", "MD", "female", "1000000002", "doctor", "PHYSICIAN", "Attending physician", "loc-ed", "555-0152"),
    ("pr-tfenn", "Tobias", "Fenn", "Dr.", "MD", "male", "1000000003", "doctor", "RESIDENT", "Resident physician", "loc-4w", "555-0153"),
    ("pr-jpike", "Jordan", "Pike", None, "RN", "other", None, "nurse", "RN", "Registered nurse", "loc-4w", "555-0154"),
    ("pr-planning", "Priya", "Lanning", None, "RN", "female", None, "nurse", "RN", "Registered nurse", "loc-ed", "555-0155"),
    ("pr-dcorr", "Dmitri", "Corr", None, "RN", "male", None, "nurse", "RN", "Registered nurse", "loc-micu", "555-0156"),
    ("pr-gokafor", "Grace", "Okafor", None, "RN", "female", None, "nurse", "NURSING_SUPERVISOR", "Nursing supervisor", "loc-4w", "555-0157"),
    ("pr-bhale", "Bernadette", "Hale", None, "RN", "female", None, "nurse", "NURSING_SUPERVISOR", "Nursing supervisor", "loc-micu", "555-0158"),
    ("pr-sortizvale", "Samuel", "Ortiz-Vale", None, "PharmD", "male", "1000000009", "pharmacist", "PHARMACIST", "Clinical pharmacist", "loc-pharm", "555-0159"),
    ("pr-lbrandt", "Lena", "Brandt", None, "RN", "female", None, "ict", "CLIN_INFORMATICS", "Clinical informatics analyst", "loc-ci", "555-0160"),
    ("pr-rcastellano", "Ravi", "Castellano", None, "PharmD", "male", None, "ict", "CLIN_INFORMATICS", "Clinical informatics analyst", "loc-ci", "555-0161"),
    ("pr-mwebb", "Marcus", "Webb", None, None, "male", None, "ict", "IT_ANALYST", "IT analyst", "loc-it", "555-0162"),
    ("pr-kvoss", "Katrin", "Voss", None, None, "female", None, None, "COMPLIANCE", "Compliance officer", "loc-priv", "555-0163"),
]

practitioners, roles = [], []
for (pid, given, family, prefix, suffix, gender, npi, hl7, code, display, unit, phone) in STAFF:
    name = {"use": "official", "family": family, "given": [given],
            "text": " ".join(x for x in [prefix, given, family] if x) + (", " + suffix if suffix else "")}
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    ident = [{"use": "usual", "system": ORG_SYSTEM + "/employee-id", "value": "E" + pid[3:].upper()}]
    if npi:
        ident.append({"use": "official", "system": "http://hl7.org/fhir/sid/us-npi", "value": npi})
    practitioners.append({
        "resourceType": "Practitioner",
        "id": pid,
        "meta": meta(),
        "identifier": ident,
        "active": True,
        "name": [name],
        "telecom": [{"system": "phone", "value": phone, "use": "work"},
                    {"system": "email", "value": "%s.%s@riverbend.example.org" % (given.lower(), family.lower()), "use": "work"}],
        "gender": gender,
    })
    roles.append({
        "resourceType": "PractitionerRole",
        "id": "role-" + pid[3:],
        "meta": meta(),
        "active": True,
        "practitioner": {"reference": "Practitioner/" + pid, "display": name["text"]},
        "organization": {"reference": "Organization/org-riverbend"},
        "code": [{"coding": ([{"system": HL7_ROLE, "code": hl7}] if hl7 else [])
                            + [{"system": ROLE_SYSTEM, "code": code, "display": display}],
                  "text": display}],
        "location": [{"reference": "Location/" + unit, "display": next(u[1] for u in UNITS if u[0] == unit)}],
        "telecom": [{"system": "phone", "value": phone, "use": "work"}],
    })

# Patients: id, given, family, gender, birthDate, MRN, unit, room, bed, attending, nurse, second (finished) encounter?
PATIENTS = [
    ("pat-01", ["Rosalind", "Mae"], "Quillfeather", "female", "1948-03-14", "RB0000101", "loc-4w", "412", "A", "pr-tfenn", "pr-jpike", True),
    ("pat-02", ["Theodore"], "Vantwerp", "male", "1931-07-02", "RB0000102", "loc-4w", "412", "B", "pr-tfenn", "pr-jpike", False),
    ("pat-03", ["Imogen"], "Larkspur", "female", "1990-11-23", "RB0000103", "loc-4w", "414", "A", "pr-tfenn", "pr-jpike", False),
    ("pat-04", ["Caspian", "J."], "Oddlebury", "male", "1962-01-30", "RB0000104", "loc-4w", "416", "A", "pr-tfenn", "pr-jpike", True),
    ("pat-05", ["Marisol"], "Brindlewood", "female", "1975-05-09", "RB0000105", "loc-micu", "3", "A", "pr-hmarsh", "pr-dcorr", False),
    ("pat-06", ["Augustin"], "Pellegrove", "male", "1958-09-17", "RB0000106", "loc-micu", "5", "A", "pr-hmarsh", "pr-dcorr", True),
    ("pat-07", ["Winifred"], "Ashcombe", "female", "1944-12-01", "RB0000107", "loc-micu", "7", "A", "pr-hmarsh", "pr-dcorr", False),
    ("pat-08", ["Desmond"], "Halloway-Finch", "male", "2001-02-28", "RB0000108", "loc-ed", "9", "A", "pr-awhitfield", "pr-planning", False),
    ("pat-09", ["Juniper"], "Okonkwo-Reyes", "female", "1988-08-08", "RB0000109", "loc-ed", "11", "A", "pr-awhitfield", "pr-planning", False),
    ("pat-10", ["Barnaby"], "Thistlewaite", "male", "1953-04-21", "RB0000110", "loc-ed", "14", "A", "pr-awhitfield", "pr-planning", True),
    ("pat-11", ["Ottilie"], "Marchbanks", "female", "2019-06-15", "RB0000111", "loc-ed", "15", "A", "pr-awhitfield", "pr-planning", False),
    ("pat-12", ["Percival"], "Greenhalgh", "male", "1969-10-10", "RB0000112", "loc-4w", "418", "A", "pr-tfenn", "pr-jpike", False),
    ("pat-13", ["Saoirse"], "Delacourt", "female", "1996-03-03", "RB0000113", "loc-micu", "9", "A", "pr-hmarsh", "pr-dcorr", False),
]

STREETS = ["Larch Lane", "Quarry Road", "Millpond Court", "Heron Way", "Bellfounder Street", "Orchard Row"]
patients, encounters = [], []
for i, (pid, given, family, gender, dob, mrn, unit, room, letter, attending, nurse, prior) in enumerate(PATIENTS):
    patients.append({
        "resourceType": "Patient",
        "id": pid,
        "meta": meta(),
        "identifier": [{"use": "usual",
                        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}]},
                        "system": ORG_SYSTEM + "/mrn", "value": mrn}],
        "active": True,
        "name": [{"use": "official", "family": family, "given": given, "text": " ".join(given + [family])}],
        "telecom": [{"system": "phone", "value": "555-01%02d" % (70 + i), "use": "home"}],
        "gender": gender,
        "birthDate": dob,
        "address": [{"use": "home", "line": ["%d %s" % (100 + 7 * i, STREETS[i % len(STREETS)])],
                     "city": "Riverbend", "state": "ZZ", "postalCode": "00000"}],
        "managingOrganization": {"reference": "Organization/org-riverbend"},
        "generalPractitioner": [{"reference": "Practitioner/" + attending}],
    })
    start = ANCHOR - timedelta(days=1 + i % 4, hours=3 * i)
    enc_class = {"loc-ed": ("EMER", "emergency")}.get(unit, ("IMP", "inpatient encounter"))
    encounters.append({
        "resourceType": "Encounter",
        "id": "enc-%s-a" % pid[4:],
        "meta": meta(),
        "identifier": [{"use": "usual", "system": ORG_SYSTEM + "/csn", "value": "CSN%08d" % (5000 + i)}],
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": enc_class[0], "display": enc_class[1]},
        "subject": {"reference": "Patient/" + pid},
        "participant": [
            {"type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND", "display": "attender"}]}],
             "individual": {"reference": "Practitioner/" + attending}},
            {"type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF", "display": "primary performer"}]}],
             "individual": {"reference": "Practitioner/" + nurse}},
        ],
        "period": {"start": iso(start)},
        "location": [{"location": {"reference": "Location/" + bed(unit, room, letter)}, "status": "active"},
                     {"location": {"reference": "Location/" + unit}, "status": "active"}],
        "serviceProvider": {"reference": "Organization/org-riverbend"},
    })
    if prior:
        pstart = ANCHOR - timedelta(days=60 + 11 * i)
        encounters.append({
            "resourceType": "Encounter",
            "id": "enc-%s-b" % pid[4:],
            "meta": meta(),
            "identifier": [{"use": "usual", "system": ORG_SYSTEM + "/csn", "value": "CSN%08d" % (4000 + i)}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
            "subject": {"reference": "Patient/" + pid},
            "participant": [{"individual": {"reference": "Practitioner/" + attending}}],
            "period": {"start": iso(pstart), "end": iso(pstart + timedelta(hours=1))},
            "serviceProvider": {"reference": "Organization/org-riverbend"},
        })

# Login AuditEvents (DICOM 110114 User Authentication / 110122 Login), three per practitioner.
audits = []
for n, (pid, given, family, *_rest) in enumerate(STAFF):
    unit = _rest[-2]
    for k in range(3):
        when = ANCHOR - timedelta(days=k * 2, hours=(n * 5 + k * 7) % 20, minutes=(n * 13) % 60)
        audits.append({
            "resourceType": "AuditEvent",
            "id": "ae-login-%s-%d" % (pid[3:], k + 1),
            "meta": meta(),
            "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114", "display": "User Authentication"},
            "subtype": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122", "display": "Login"}],
            "action": "E",
            "recorded": iso(when),
            "outcome": "0",
            "agent": [{
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
                "who": {"reference": "Practitioner/" + pid},
                "requestor": True,
                "location": {"reference": "Location/" + unit},
                "network": {"address": "WS-%s-%02d" % (next(u[2] for u in UNITS if u[0] == unit), 1 + (n + k) % 6), "type": "1"},
            }],
            "source": {"site": "Riverbend General Hospital (synthetic)",
                       "observer": {"reference": "Organization/org-riverbend"},
                       "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}]},
        })

FILES = {
    "Organization": [organization],
    "Location": locations + [BEDS[k] for k in sorted(BEDS)],
    "Practitioner": practitioners,
    "PractitionerRole": roles,
    "Patient": patients,
    "Encounter": encounters,
    "AuditEvent": audits,
}

os.makedirs(OUT, exist_ok=True)
for rtype, resources in FILES.items():
    with open(os.path.join(OUT, rtype + ".json"), "w", encoding="utf-8") as f:
        json.dump(bundle(resources), f, indent=1, ensure_ascii=False)
        f.write("\n")
print({k: len(v) for k, v in FILES.items()})
