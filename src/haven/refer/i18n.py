"""A tiny translation catalogue for the package summary's headings (English default).

Headings only: names, addresses and evidence values are shown exactly as seized. A country
uses the first language of `LANGUAGE_OF` that has a catalogue; any other country gets
English. Add a language by adding one dictionary with the same keys (a test checks this).
"""

from __future__ import annotations

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "title": "Referral package",
        "coordinator_title": "Coordinator package",
        "intro": "Subjects from a seized list attributed to your country, with the records and "
                 "evidence behind each attribution. Confidence is between 0 and 1; fraud and "
                 "stolen-identity indicators lower it and are listed.",
        "coordinator_intro": "Subjects that no country package received: split evidence under "
                             "review, no country evidence, or countries kept aside.",
        "operation": "Operation", "country": "Country", "prepared": "Prepared",
        "summary": "Summary", "subjects": "Subjects", "records": "Source records",
        "shared": "Shared with other countries", "review": "Under review",
        "with_indicators": "With fraud or stolen-identity indicators",
        "subject": "Subject", "names": "Names", "confidence": "Confidence",
        "shared_with": "Also sent to", "indicators": "Indicators", "note": "Note",
        "files": "Files in this package", "provenance": "Provenance",
        "input": "Input file", "ip_database": "IP database", "haven_version": "haven version",
        "verify": "How to verify",
        "verify_text": "manifest.json lists the SHA-256 of every file; manifest.sig is its "
                       "Ed25519 signature. Check both with:",
        "file_csv": "spreadsheet text: one row per subject (records.csv, evidence.csv beside it)",
        "file_xlsx": "workbook: subjects, source records, evidence, indicators",
        "file_json": "machine-readable: every subject with its records and evidence",
        "file_caseuco": "CASE/UCO JSON-LD for forensic tools",
        "none": "none",
    },
    "fr": {
        "title": "Dossier de signalement",
        "coordinator_title": "Dossier du coordinateur",
        "intro": "Personnes issues d'une liste saisie et rattachées à votre pays, avec les "
                 "enregistrements et les éléments qui fondent chaque rattachement. La confiance "
                 "va de 0 à 1 ; les indices de fraude ou d'usurpation d'identité la réduisent et "
                 "sont indiqués.",
        "coordinator_intro": "Personnes qu'aucun dossier national n'a reçues : éléments "
                             "contradictoires à examiner, aucun élément de pays, ou pays mis "
                             "de côté.",
        "operation": "Opération", "country": "Pays", "prepared": "Établi le",
        "summary": "Résumé", "subjects": "Personnes", "records": "Enregistrements sources",
        "shared": "Partagées avec d'autres pays", "review": "À examiner",
        "with_indicators": "Avec indices de fraude ou d'usurpation d'identité",
        "subject": "Personne", "names": "Noms", "confidence": "Confiance",
        "shared_with": "Également envoyé à", "indicators": "Indices", "note": "Remarque",
        "files": "Fichiers du dossier", "provenance": "Provenance",
        "input": "Fichier source", "ip_database": "Base d'adresses IP",
        "haven_version": "version de haven",
        "verify": "Vérification",
        "verify_text": "manifest.json donne le SHA-256 de chaque fichier ; manifest.sig en est "
                       "la signature Ed25519. Pour vérifier les deux :",
        "file_csv": "texte tabulé : une ligne par personne (records.csv et evidence.csv à côté)",
        "file_xlsx": "classeur : personnes, enregistrements sources, éléments, indices",
        "file_json": "format machine : chaque personne avec ses enregistrements et éléments",
        "file_caseuco": "JSON-LD CASE/UCO pour les outils de criminalistique",
        "none": "aucun",
    },
    "es": {
        "title": "Paquete de remisión",
        "coordinator_title": "Paquete del coordinador",
        "intro": "Personas de una lista incautada atribuidas a su país, con los registros y "
                 "las pruebas de cada atribución. La confianza va de 0 a 1; los indicios de "
                 "fraude o suplantación de identidad la reducen y se indican.",
        "coordinator_intro": "Personas que ningún paquete nacional recibió: pruebas divididas "
                             "en revisión, sin pruebas de país, o países apartados.",
        "operation": "Operación", "country": "País", "prepared": "Preparado",
        "summary": "Resumen", "subjects": "Personas", "records": "Registros de origen",
        "shared": "Compartidas con otros países", "review": "En revisión",
        "with_indicators": "Con indicios de fraude o suplantación de identidad",
        "subject": "Persona", "names": "Nombres", "confidence": "Confianza",
        "shared_with": "También enviado a", "indicators": "Indicios", "note": "Nota",
        "files": "Archivos del paquete", "provenance": "Procedencia",
        "input": "Archivo de origen", "ip_database": "Base de datos IP",
        "haven_version": "versión de haven",
        "verify": "Cómo verificar",
        "verify_text": "manifest.json contiene el SHA-256 de cada archivo; manifest.sig es su "
                       "firma Ed25519. Verifique ambos con:",
        "file_csv": "texto para hoja de cálculo: una fila por persona (records.csv y "
                    "evidence.csv al lado)",
        "file_xlsx": "libro: personas, registros de origen, pruebas, indicios",
        "file_json": "legible por máquina: cada persona con sus registros y pruebas",
        "file_caseuco": "JSON-LD CASE/UCO para herramientas forenses",
        "none": "ninguno",
    },
    "de": {
        "title": "Übermittlungspaket",
        "coordinator_title": "Paket der Koordinierungsstelle",
        "intro": "Personen aus einer sichergestellten Liste, die Ihrem Land zugeordnet sind, mit "
                 "den Datensätzen und Belegen jeder Zuordnung. Die Sicherheit liegt zwischen 0 "
                 "und 1; Hinweise auf Betrug oder Identitätsdiebstahl senken sie und sind "
                 "aufgeführt.",
        "coordinator_intro": "Personen, die kein Länderpaket erhalten hat: widersprüchliche "
                             "Belege zur Prüfung, keine Länderbelege oder zurückgestellte "
                             "Länder.",
        "operation": "Operation", "country": "Land", "prepared": "Erstellt",
        "summary": "Übersicht", "subjects": "Personen", "records": "Quelldatensätze",
        "shared": "Mit anderen Ländern geteilt", "review": "Zur Prüfung",
        "with_indicators": "Mit Hinweisen auf Betrug oder Identitätsdiebstahl",
        "subject": "Person", "names": "Namen", "confidence": "Sicherheit",
        "shared_with": "Auch gesendet an", "indicators": "Hinweise", "note": "Anmerkung",
        "files": "Dateien in diesem Paket", "provenance": "Herkunft",
        "input": "Eingabedatei", "ip_database": "IP-Datenbank",
        "haven_version": "haven-Version",
        "verify": "Prüfen",
        "verify_text": "manifest.json enthält den SHA-256 jeder Datei; manifest.sig ist seine "
                       "Ed25519-Signatur. Beides prüfen mit:",
        "file_csv": "Tabellentext: eine Zeile je Person (records.csv und evidence.csv daneben)",
        "file_xlsx": "Arbeitsmappe: Personen, Quelldatensätze, Belege, Hinweise",
        "file_json": "maschinenlesbar: jede Person mit Datensätzen und Belegen",
        "file_caseuco": "CASE/UCO JSON-LD für forensische Werkzeuge",
        "none": "keine",
    },
}

# Countries whose (first) official language has a catalogue above.
LANGUAGE_OF: dict[str, str] = {
    **dict.fromkeys("FR BE LU MC SN CI CM ML BF NE TG BJ GA CG CD MG HT TN MA DZ GN TD CF "
                    "DJ KM BI".split(), "fr"),
    **dict.fromkeys("ES MX AR CL CO VE PE EC BO PY UY CR PA GT HN SV NI DO CU GQ".split(), "es"),
    **dict.fromkeys("DE AT CH LI".split(), "de"),
}
DEFAULT_LANGUAGE = "en"


def language_for(code: str) -> str:
    """The summary language for a package code (English when there is no translation)."""
    lang = LANGUAGE_OF.get(code.upper(), DEFAULT_LANGUAGE)
    return lang if lang in CATALOGUE else DEFAULT_LANGUAGE


def texts(language: str) -> dict[str, str]:
    """Headings in `language`, falling back to English key by key."""
    return {**CATALOGUE[DEFAULT_LANGUAGE], **CATALOGUE.get(language, {})}
