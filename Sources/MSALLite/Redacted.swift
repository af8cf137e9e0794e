import TokenCache

// Printing, dumping (`dump`, `String(reflecting:)`) or inspecting in a debugger any of
// these values never shows the token, secret, code, verifier or key it holds.

extension AuthenticationResult: CustomDebugStringConvertible, CustomReflectable {
    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["tokenSource": tokenSource, "scopes": scopeText, "expiresOn": expiresOn, "refreshOn": refreshOn as Any,
                                "homeAccountID": homeAccountID as Any, "username": username as Any, "refreshReason": refreshReason as Any,
                                "correlationID": correlationID as Any, "accessToken": Redaction.placeholder,
                                "idToken": idToken == nil ? "none" : Redaction.placeholder],
               displayStyle: .struct)
    }
}

extension ClientCredential: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The kind of credential, never its value.
    public var description: String {
        switch self {
        case .secret: "ClientCredential.secret(\(Redaction.placeholder))"
        case .assertion: "ClientCredential.assertion(callback)"
        case .certificate(let certificate): "ClientCredential.certificate(\(certificate))"
        }
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["credential": description]) }
}

extension CertificateCredential: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The certificate's SHA-256 thumbprint, never the private key.
    public var description: String {
        let thumbprint = signer.sha256Thumbprint.map { "x5t#S256: " + Base64URL.encode($0) } ?? "x5t: " + Base64URL.encode(signer.sha1Thumbprint)
        return "CertificateCredential(\(thumbprint), \(algorithm.rawValue), key: \(Redaction.placeholder))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["certificate": description]) }
}

extension DeviceCodeFlow: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// What the user is shown; the device code stays hidden.
    public var description: String {
        "DeviceCodeFlow(userCode: \(userCode), verificationURI: \(verificationURI), expiresOn: \(expiresOn), deviceCode: \(Redaction.placeholder))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["userCode": userCode, "verificationURI": verificationURI, "message": message, "expiresOn": expiresOn,
                                "interval": interval, "scopes": scopes, "deviceCode": Redaction.placeholder], displayStyle: .struct)
    }
}

extension AuthCodeFlow: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Where the flow goes; the PKCE verifier, state and nonce stay hidden.
    public var description: String {
        "AuthCodeFlow(redirectURI: \(redirectURI), scopes: \(scopes.joined(separator: " ")), codeVerifier: \(Redaction.placeholder))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["redirectURI": redirectURI, "scopes": scopes, "state": Redaction.placeholder, "nonce": Redaction.placeholder,
                                "codeVerifier": Redaction.placeholder], displayStyle: .struct)
    }
}

extension HTTPRequest: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The method and URL (without its query); the body, which carries credentials, and
    /// the header values are not shown.
    public var description: String {
        "HTTPRequest(\(method) \(ProviderConnection.redacted(url)), headers: \(headers.keys.sorted().joined(separator: ", ")), body: \(body?.count ?? 0) bytes)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["request": description]) }
}

extension HTTPResponse: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The status and size; the body, which carries tokens, is not shown.
    public var description: String { "HTTPResponse(status: \(status), body: \(body.count) bytes)" }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["response": description]) }
}
