using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Exch.Dsr.StatusPage.Tests;

/// <summary>
/// A self-signed certificate for 127.0.0.1 written as PEM files, as an admin would have them from openssl or certbot:
/// the certificate and its key in two files, or both in one (<see cref="KeyFile"/> null).
/// </summary>
internal sealed class TestCertificate : IDisposable
{
    private readonly string _directory;

    private TestCertificate(string directory, string certificateFile, string? keyFile, string thumbprint)
    {
        _directory = directory;
        CertificateFile = certificateFile;
        KeyFile = keyFile;
        Thumbprint = thumbprint;
    }

    public string CertificateFile { get; }

    public string? KeyFile { get; }

    public string Thumbprint { get; }

    /// <param name="notBefore">Start of validity; now minus a day by default.</param>
    /// <param name="notAfter">End of validity; a year from now by default.</param>
    /// <param name="keyInCertificateFile">Both PEM blocks in one file instead of a separate key file.</param>
    /// <param name="withKey">False writes no key at all (a certificate file as exported without its key).</param>
    public static TestCertificate Create(DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool keyInCertificateFile = false, bool withKey = true)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=exch-dsr status page test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(notBefore ?? DateTimeOffset.UtcNow.AddDays(-1), notAfter ?? DateTimeOffset.UtcNow.AddYears(1));

        var directory = Directory.CreateTempSubdirectory("exch-dsr-tls-").FullName;
        var certificateFile = Path.Combine(directory, "status.pem");
        var keyPem = key.ExportPkcs8PrivateKeyPem();
        string? keyFile = null;
        if (withKey && keyInCertificateFile)
        {
            File.WriteAllText(certificateFile, certificate.ExportCertificatePem() + "\n" + keyPem + "\n");
        }
        else
        {
            File.WriteAllText(certificateFile, certificate.ExportCertificatePem() + "\n");
            if (withKey)
            {
                keyFile = Path.Combine(directory, "status.key");
                File.WriteAllText(keyFile, keyPem + "\n");
            }
        }

        return new TestCertificate(directory, certificateFile, keyFile, certificate.Thumbprint);
    }

    /// <summary>Writes <paramref name="other"/>'s files over this one's, as a renewal does (same paths, new contents).</summary>
    public void ReplaceWith(TestCertificate other)
    {
        File.Copy(other.CertificateFile, CertificateFile, overwrite: true);
        if (KeyFile is not null && other.KeyFile is not null)
        {
            File.Copy(other.KeyFile, KeyFile, overwrite: true);
        }
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
