"""Canonical record fields and the column mapping that names which input column is which.

The mapping is plain YAML an analyst can edit::

    version: 1
    files:
      customers.csv:
        full_name: Customer name
        email: E-Mail
    default:            # used for files without their own entry
        email: email

A field may take several columns (a composite): ``card: [card_bin, card_last4, card_exp]``
combines a split card into one payment identity (haven.intel.payment); any other field joins
its columns' values with a space (``street: [house_number, street_name]``).

Headers are guessed from a synonym table in several languages; columns that match no field
are still kept with the record (as `extra`), so nothing in the input is lost. Every column
naming a card role (card number, BIN, last 4, expiry, token, fingerprint, IBAN, account) is
guessed into the `card` composite.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml

from haven.intel.errors import MappingError
from haven.intel.payment import card_columns

#: One field's column, or the columns of a composite field.
Columns = str | list[str]

#: Canonical fields, in the order they are stored and shown.
FIELDS: tuple[str, ...] = (
    "full_name",
    "first_name",
    "last_name",
    "username",
    "email",
    "phone",
    "dob",
    "national_id",
    "street",
    "city",
    "postcode",
    "country",
    "ip",
    "ip_time",
    "card",
    "card_country",
    "declared_country",
    "account_id",
    "purchase_date",
)

# Header synonyms, already folded by `_fold_header` (lower case, ASCII letters/digits only).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "full_name": ("name", "fullname", "customername", "customer", "nom", "nombre", "nomecompleto",
                  "nombrecompleto", "nomcomplet", "vollername", "naam", "imie_nazwisko", "fio",
                  "realname", "displayname", "holder", "accountholder", "cardholder",
                  "cardholdername", "nameoncard"),
    "first_name": ("firstname", "givenname", "forename", "fname", "first", "prenom", "vorname",
                   "nombrepila", "nome", "voornaam", "imie", "fornavn", "fornamn", "etunimi",
                   "imya"),
    "last_name": ("lastname", "surname", "familyname", "lname", "last", "nomdefamille",
                  "nachname", "apellido", "apellidos", "cognome", "sobrenome", "achternaam",
                  "nazwisko", "efternavn", "efternamn", "sukunimi", "familiya"),
    "username": ("username", "user", "login", "userid", "nick", "nickname", "handle",
                 "screenname", "benutzername", "pseudo", "usuario", "alias"),
    "email": ("email", "emailaddress", "mail", "emailadresse", "courriel", "correo",
              "correoelectronico", "adressemail", "adresseemail", "epost", "sahkoposti"),
    "phone": ("phone", "phonenumber", "telephone", "tel", "telefon", "telefono", "telefone",
              "mobile", "mobilephone", "cell", "cellphone", "handy", "msisdn", "portable",
              "telefoonnummer", "numero", "phoneno", "contactnumber"),
    "dob": ("dob", "dateofbirth", "birthdate", "birthday", "born", "geburtsdatum",
            "datedenaissance", "fechadenacimiento", "datanascita", "geboortedatum"),
    "national_id": ("nationalid", "ssn", "socialsecuritynumber", "socialsecurity", "socsecid",
                    "socsec", "nin", "nino", "nationalinsurancenumber", "taxid", "tin",
                    "personnummer", "personalidentitycode", "personalid", "idnumber",
                    "identitynumber", "dni", "nie", "nif", "pesel", "codicefiscale", "cpf",
                    "bsn", "steuerid", "numerosecu", "insee"),
    "street": ("street", "address", "address1", "addressline1", "streetaddress", "adresse",
               "direccion", "indirizzo", "endereco", "strasse", "adres", "adresa", "rue",
               "billingaddress", "shippingaddress"),
    "city": ("city", "town", "ville", "stadt", "ort", "ciudad", "citta", "cidade", "plaats",
             "miasto", "locality", "billingcity"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode", "plz", "postleitzahl",
                 "codepostal", "cp", "cap", "codigopostal", "cep", "postnummer", "kodpocztowy",
                 "billingzip", "billingpostcode"),
    "country": ("country", "addresscountry", "billingcountry", "pays", "land", "pais", "paese",
                "kraj", "strana", "countrycode", "shippingcountry", "ulke"),
    "ip": ("ip", "ipaddress", "ipaddr", "clientip", "remoteaddr", "remoteip", "lastip",
           "loginip", "registrationip", "signupip", "sourceip"),
    "ip_time": ("iptime", "timestamp", "lastlogin", "logintime", "seen", "lastseen", "time",
                "datetime", "accesstime"),
    "card": ("card", "cardnumber", "cardno", "pan", "creditcard", "cardhash", "cardref",
             "paymentref", "paymentreference", "payment", "iban", "account", "cardfingerprint",
             "paymentid", "transactionref"),
    "card_country": ("cardcountry", "bincountry", "issuercountry", "issuingcountry",
                     "paymentcountry", "bankcountry"),
    "declared_country": ("declaredcountry", "nationality", "citizenship", "residence",
                         "countryofresidence", "usercountry", "profilecountry", "locale"),
    "account_id": ("accountid", "customerid", "clientid", "memberid", "uid", "id"),
    "purchase_date": ("purchasedate", "orderdate", "date", "purchased", "created",
                      "createdat", "signupdate", "registered", "transactiondate"),
}

_HEADER_TO_FIELD: dict[str, str] = {
    syn.replace("_", ""): field for field, syns in _SYNONYMS.items() for syn in syns
}


def _fold_header(header: str) -> str:
    text = unicodedata.normalize("NFKD", header).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", text)


def guess_mapping(headers: Iterable[str]) -> dict[str, Columns]:
    """Map canonical field → input header, from header names alone.

    The first header that names a field wins; a header is used for one field only.
    """
    headers = list(headers)
    mapping: dict[str, str] = {}
    for header in headers:
        folded = _fold_header(header)
        field = _HEADER_TO_FIELD.get(folded)
        if field is None:
            # "E-mail address (billing)" and similar: look for a synonym inside the header.
            for syn, candidate in sorted(_HEADER_TO_FIELD.items(), key=lambda kv: -len(kv[0])):
                if len(syn) >= 5 and syn in folded:
                    field = candidate
                    break
        if field and field not in mapping:
            mapping[field] = header
    out: dict[str, Columns] = {f: mapping[f] for f in FIELDS if f in mapping}
    taken = {h for f, h in out.items() if f != "card"}
    cards = [h for h in card_columns(headers) if h not in taken]
    if len(cards) == 1:
        out["card"] = cards[0]
    elif cards:
        out["card"] = cards
    return {f: out[f] for f in FIELDS if f in out}


def mapped_columns(mapping: Mapping[str, Columns]) -> list[str]:
    """Every input column a mapping uses, composites flattened."""
    cols: list[str] = []
    for value in mapping.values():
        cols.extend([value] if isinstance(value, str) else value)
    return cols


def check_mapping(mapping: Mapping[str, Columns], headers: Iterable[str], file: str) -> None:
    """Raise `MappingError` when the mapping uses an unknown field or a missing column."""
    known = set(headers)
    for field, columns in mapping.items():
        if field not in FIELDS:
            raise MappingError(
                f"{file}: mapping names unknown field {field!r}; fields are: {', '.join(FIELDS)}"
            )
        if not isinstance(columns, (str, list)) or not columns:
            raise MappingError(f"{file}: mapping gives {field!r} no column; write a column "
                               "header or a list of them ([card_bin, card_last4])")
        for column in [columns] if isinstance(columns, str) else columns:
            if column not in known:
                raise MappingError(
                    f"{file}: mapping puts {field!r} in column {column!r}, which the file does "
                    f"not have. Columns are: {', '.join(sorted(known))}"
                )


def read_mapping_file(path: Path) -> dict:
    """Read a mapping YAML file into `{"files": {...}, "default": {...}}`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping file is a YAML mapping with 'files' and 'default'")
    files = data.get("files") or {}
    default = data.get("default") or {}
    if not isinstance(files, dict) or not isinstance(default, dict):
        raise MappingError(f"{path}: 'files' and 'default' must be mappings of field: column")
    return {"files": {str(k): dict(v or {}) for k, v in files.items()}, "default": dict(default)}


def mapping_for(mappings: dict, file_name: str) -> dict[str, Columns] | None:
    """The mapping a mappings document gives for one file, or None when it gives none."""
    if file_name in mappings.get("files", {}):
        return {str(k): _columns(v) for k, v in mappings["files"][file_name].items()}
    if mappings.get("default"):
        return {str(k): _columns(v) for k, v in mappings["default"].items()}
    return None


def _columns(value: object) -> Columns:
    if isinstance(value, (list, tuple)):
        cols = [str(v) for v in value]
        return cols[0] if len(cols) == 1 else cols
    return str(value)


def write_mapping_file(path: Path, mappings: dict) -> None:
    """Write the mappings document, with a comment saying how to edit it."""
    head = (
        "# haven intel column mapping: for each input file, field: column header.\n"
        "# A field may take a list of columns: card: [card_bin, card_last4, card_expiry].\n"
        "# Edit and pass with --mapping to override the guesses. Fields: "
        + ", ".join(FIELDS)
        + "\n"
    )
    body = yaml.safe_dump(
        {"version": 1, "files": mappings.get("files", {}), "default": mappings.get("default", {})},
        sort_keys=False,
        allow_unicode=True,
    )
    path.write_text(head + body, encoding="utf-8")
