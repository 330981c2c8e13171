using System.Net;
using Exch.Dsr.Configuration;

namespace Exch.Dsr.StatusPage;

/// <summary>Where the status page listens and who may make changes through it, from <c>[control]</c> in the configuration.</summary>
public sealed record StatusPageOptions
{
    /// <summary>The address and port Kestrel listens on; port 0 picks a free port (tests).</summary>
    public required IPEndPoint Endpoint { get; init; }

    /// <summary>The user name HTTP Basic authentication expects for changes.</summary>
    public string AdminUser { get; init; } = "admin";

    /// <summary>
    /// A file whose first line is the admin password, read at start and on every reload. Null: changes are allowed
    /// from loopback clients only, and only when <see cref="Endpoint"/> is a loopback address.
    /// </summary>
    public string? AdminPasswordFile { get; init; }

    /// <summary>A PEM file with the certificate (and chain) to serve HTTPS with; null serves plain HTTP.</summary>
    public string? CertificateFile { get; init; }

    /// <summary>The PEM file with <see cref="CertificateFile"/>'s private key; null when the certificate file holds it.</summary>
    public string? CertificateKeyFile { get; init; }

    /// <summary>How long a request waits for the running exch-dsr to answer before it gets 503.</summary>
    public TimeSpan ControlTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The options for <paramref name="control"/>, or null when the page is switched off (<c>http = "off"</c>).</summary>
    public static StatusPageOptions? From(ControlConfig control)
    {
        ArgumentNullException.ThrowIfNull(control);
        return control.Http is { } endpoint
            ? new StatusPageOptions
            {
                Endpoint = endpoint,
                AdminUser = control.AdminUser,
                AdminPasswordFile = control.AdminPasswordFile,
                CertificateFile = control.HttpCertificate,
                CertificateKeyFile = control.HttpCertificateKey,
            }
            : null;
    }
}
