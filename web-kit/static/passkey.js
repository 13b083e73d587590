// Passkeys for the Offerte Portaal (SPEC F4). The page works without this script; with it,
// the passkey buttons appear. Each ceremony: fetch the options from ".../start" (JSON),
// let the browser talk to the authenticator, then post the answer as an ordinary form to
// ".../finish", so the server answers with an ordinary page or redirect.
"use strict";
(function () {
  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(json) {
    var pk = json.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }
  function requestOptions(json) {
    var pk = json.publicKey;
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }
  function registrationJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : []
      }
    };
  }
  function assertionJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      }
    };
  }
  function post(url, fields) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = url;
    Object.keys(fields).forEach(function (k) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = k;
      input.value = fields[k];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }
  function start(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    }).then(function (res) {
      if (!res.ok) { throw new Error("start " + res.status); }
      return res.json();
    });
  }
  function showError() {
    var e = document.getElementById("passkey-error");
    if (e) { e.hidden = false; }
  }
  function wire(button, run) {
    if (!button || !window.PublicKeyCredential) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      run().catch(function () { showError(); button.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.querySelector("[data-passkey-login-start]");
    if (box) {
      wire(document.getElementById("passkey-button"), function () {
        var body = "return_to=" + encodeURIComponent(box.dataset.returnTo || "/");
        return start(box.dataset.passkeyLoginStart, body).then(function (json) {
          return navigator.credentials.get(requestOptions(json));
        }).then(function (cred) {
          post(box.dataset.passkeyLoginFinish, { credential: JSON.stringify(assertionJson(cred)) });
        });
      });
    }
    var second = document.querySelector("[data-passkey-start]");
    if (second) {
      wire(document.getElementById("passkey-button"), function () {
        return start(second.dataset.passkeyStart).then(function (json) {
          return navigator.credentials.get(requestOptions(json));
        }).then(function (cred) {
          post(second.dataset.passkeyFinish, { credential: JSON.stringify(assertionJson(cred)) });
        });
      });
    }
    var reg = document.querySelector("[data-passkey-register-start]");
    if (reg) {
      wire(document.getElementById("passkey-register-button"), function () {
        var nameInput = document.getElementById("passkey-name");
        var name = nameInput ? nameInput.value : (reg.dataset.passkeyName || "");
        return start(reg.dataset.passkeyRegisterStart).then(function (json) {
          return navigator.credentials.create(creationOptions(json));
        }).then(function (cred) {
          post(reg.dataset.passkeyRegisterFinish, {
            credential: JSON.stringify(registrationJson(cred)),
            name: name
          });
        });
      });
    }
  });
})();
