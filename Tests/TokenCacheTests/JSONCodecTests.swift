import Foundation
import Testing
@testable import TokenCache

@Suite("JSON codec")
struct JSONCodecTests {
    func roundTrip(_ text: String) throws -> String {
        try JSONValue(parsing: Data(text.utf8)).pythonJSONText
    }

    @Test("Writes Python's json.dumps(indent=4) layout")
    func layout() throws {
        #expect(try roundTrip(#"{"a":{"b":[1,{"c":[]}],"d":{}},"e":"x"}"#) == """
        {
            "a": {
                "b": [
                    1,
                    {
                        "c": []
                    }
                ],
                "d": {}
            },
            "e": "x"
        }
        """)
    }

    @Test("Escapes as ensure_ascii does: lower-case hex, surrogate pairs, DEL, no slash escape")
    func escapes() throws {
        let text = "\"\\/\u{08}\u{0C}\n\r\t\u{01}\u{7F}é€😀"
        #expect(JSONValue.string(text).pythonJSONText == #""\"\\/\b\f\n\r\t\u0001\u007f\u00e9\u20ac\ud83d\ude00""#)
    }

    @Test("Numbers come back as Python spells them")
    func numbers() throws {
        #expect(try roundTrip("[-0, 1.0, 1e16, 1E-5, 2.50, 1e400, NaN, -Infinity, 123456789012345678901234567890]")
            .replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: " ", with: "")
            == "[0,1.0,1e+16,1e-05,2.5,Infinity,NaN,-Infinity,123456789012345678901234567890]")
    }

    @Test("Repeated member names keep the first position and the last value")
    func duplicates() throws {
        #expect(try roundTrip(#"{"a": 1, "b": 2, "a": 3}"#) == "{\n    \"a\": 3,\n    \"b\": 2\n}")
    }

    @Test("Keys sort scopes by code point and lower-case like Python")
    func keys() {
        #expect(CacheKey.target(scopes: ["b", "B", "a", "Ä", "Z"]) == "B Z a b Ä")
        #expect(CacheKey.accessToken(homeAccountID: nil, environment: "login.microsoftonline.com", clientID: "App", realm: "T", target: "api://R/.default") == "-login.microsoftonline.com-accesstoken-app-t-api://r/.default")
        #expect(CacheKey.appMetadata(environment: "Env", clientID: "App") == "appmetadata-Env-App")
        #expect(PythonText.lower("ΑΣ.Write") == "ασ.write")
        #expect(PythonText.lower("ΑΣ Β") == "ας β")
    }

    @Test("The FMI extended cache key matches MSAL Python 1.38+")
    func extendedCacheKey() {
        #expect(ExtendedCacheKey.compute(["fmi_path": "SomeFmiPath/FmiCredentialPath"]) == "cojvfy5tzae3njpkvcebguvvx5vvmnj8hphqrbogjoi")
        #expect(ExtendedCacheKey.compute(["key_id": "k", "client_id": "c", "empty": ""]) == "")
    }

    @Test("SHA-256 matches the FIPS 180-4 examples")
    func sha256() {
        let hex = { (bytes: [UInt8]) in bytes.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array(String(repeating: "a", count: 1000).utf8))) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("Python's int() rules for timestamps")
    func pythonInt() {
        #expect(PythonText.int(" 1_700 ") == 1700)
        #expect(PythonText.int("+5") == 5)
        #expect(PythonText.int("1__0") == nil)
        #expect(PythonText.int("1.5") == nil)
        #expect(PythonText.int(.number(JSONNumber(2.9))) == 2)
    }
}
