using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Exch.Dsr.StatusPage;

/// <summary>Why a change request was turned away: the HTTP status, the reason shown to the caller, whether to log it.</summary>
internal readonly record struct GateRefusal(int Status, string Reason, bool Log, TimeSpan? RetryAfter = null);

/// <summary>
/// Decides whether a POST may change anything. First that it comes from the page itself (or a script that says so),
/// never from another web site's form or script; then who sent it.
/// </summary>
/// <remarks>
/// Cross-site: a browser lets another site send a form or a "simple" request here without asking, but not one with a
/// custom header, so <see cref="HeaderName"/> is required; <c>Sec-Fetch-Site</c> and <c>Origin</c>, when the browser
/// sends them, must name this page. Identity: with a password, HTTP Basic (the browser's own login box, as HAProxy's
/// stats page has), with guessing slowed by <see cref="WrongPasswordThrottle"/>; without one, a loopback client, and a
/// <c>Host</c> that is a loopback name so a hostile site cannot rebind its DNS name to 127.0.0.1 and post from its own
/// origin.
/// </remarks>
internal sealed class AdminGate
{
    /// <summary>The header every change must carry; the page's script sets it.</summary>
    public const string HeaderName = "X-Exch-Dsr";

    /// <summary>The name logged for changes made without a password.</summary>
    public const string LocalUser = "(loopback, no password)";

    private readonly byte[] _userHash;
    private byte[]? _passwordHash;
    private readonly WrongPasswordThrottle _throttle;

    /// <param name="user">The admin user name.</param>
    /// <param name="password">The admin password; null allows changes from loopback clients without one.</param>
    public AdminGate(string user, string? password)
    {
        _userHash = Hash(user);
        _passwordHash = password is null ? null : Hash(password);
        _throttle = new WrongPasswordThrottle(TimeProvider.System);
    }

    public bool NeedsPassword => _passwordHash is not null;

    /// <summary>
    /// A new admin password (the file was re-read on reload); the wrong-password count of each address is kept. Only
    /// a gate that has one can change it: going with or without a password changes who may act, a restart's business.
    /// </summary>
    public void ChangePassword(string password)
    {
        if (_passwordHash is null)
        {
            throw new InvalidOperationException("this gate has no password; whether one is needed is decided at start");
        }

        Volatile.Write(ref _passwordHash, Hash(password));
    }

    /// <summary>Null when <paramref name="request"/> may change things, with <paramref name="user"/> to log; else the refusal.</summary>
    public GateRefusal? Check(HttpRequest request, out string user)
    {
        user = "(anonymous)";
        if (CrossSite(request) is { } crossSite)
        {
            return new GateRefusal(StatusCodes.Status403Forbidden, crossSite, Log: true);
        }

        if (_passwordHash is null)
        {
            if (!IsLoopback(request.HttpContext.Connection.RemoteIpAddress))
            {
                return new GateRefusal(StatusCodes.Status403Forbidden,
                    "changes without an admin-password-file are allowed from this machine only", Log: true);
            }

            if (!IsLoopbackHost(request.Host.Host))
            {
                return new GateRefusal(StatusCodes.Status403Forbidden,
                    $"Host '{request.Host.Value}' is not a loopback name; open the page as {request.Scheme}://127.0.0.1:{request.HttpContext.Connection.LocalPort}/",
                    Log: true);
            }

            user = LocalUser;
            return null;
        }

        var remote = request.HttpContext.Connection.RemoteIpAddress ?? IPAddress.None;
        remote = remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote;
        if (_throttle.Blocked(remote) is { } wait)
        {
            var seconds = (int)Math.Ceiling(wait.TotalSeconds);
            return new GateRefusal(StatusCodes.Status429TooManyRequests,
                $"{WrongPasswordThrottle.MaxFailures} wrong passwords from {remote} within {WrongPasswordThrottle.Window.TotalSeconds:0} s: try again in {seconds} s",
                Log: true, RetryAfter: TimeSpan.FromSeconds(seconds));
        }

        if (!TryReadBasic(request, out var givenUser, out var givenPassword))
        {
            // A browser always asks once without credentials before it shows its login box: not worth a log line.
            return new GateRefusal(StatusCodes.Status401Unauthorized, "changes need the admin user name and password", Log: false);
        }

        user = givenUser;

        // Hashing first makes both comparisons fixed-length, so their time says nothing about either length; & (not
        // &&) so a right user name with a wrong password takes as long as a wrong user name.
        if (!(CryptographicOperations.FixedTimeEquals(Hash(givenUser), _userHash)
              & CryptographicOperations.FixedTimeEquals(Hash(givenPassword), Volatile.Read(ref _passwordHash))))
        {
            _throttle.Failed(remote);
            return new GateRefusal(StatusCodes.Status401Unauthorized, "wrong admin user name or password", Log: true);
        }

        _throttle.Succeeded(remote);
        return null;
    }

    private static string? CrossSite(HttpRequest request)
    {
        if (request.HasFormContentType)
        {
            return "form posts are refused; use the page's buttons or the JSON API";
        }

        if (string.IsNullOrEmpty(request.Headers[HeaderName]))
        {
            return $"changes need the header {HeaderName} (the page sends it; with curl add -H '{HeaderName}: 1'), "
                + "so that no other web site can post here";
        }

        var site = request.Headers["Sec-Fetch-Site"].ToString();
        if (site.Length > 0 && site is not ("same-origin" or "none"))
        {
            return $"cross-site request refused (Sec-Fetch-Site: {site})";
        }

        var origin = request.Headers[HeaderNames.Origin].ToString();
        if (origin.Length > 0 && !IsSameOrigin(origin, request))
        {
            return $"request from another origin refused (Origin: {origin})";
        }

        return null;
    }

    private static bool IsSameOrigin(string origin, HttpRequest request)
        => Uri.TryCreate(origin, UriKind.Absolute, out var uri)
           && string.Equals(uri.Scheme, request.Scheme, StringComparison.OrdinalIgnoreCase)
           && string.Equals(uri.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase)
           && uri.Port == (request.Host.Port ?? (request.IsHttps ? 443 : 80));

    private static bool TryReadBasic(HttpRequest request, out string user, out string password)
    {
        user = password = "";
        if (!AuthenticationHeaderValue.TryParse(request.Headers.Authorization.ToString(), out var header)
            || !string.Equals(header.Scheme, "Basic", StringComparison.OrdinalIgnoreCase)
            || header.Parameter is not { Length: > 0 and <= 1024 } encoded)
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Convert.FromBase64String(encoded));
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        user = decoded[..colon];
        password = decoded[(colon + 1)..];
        return true;
    }

    internal static bool IsLoopback(IPAddress? address)
        => address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    private static bool IsLoopbackHost(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && IsLoopback(address);
    }

    private static byte[] Hash(string text) => SHA256.HashData(Encoding.UTF8.GetBytes(text));
}
