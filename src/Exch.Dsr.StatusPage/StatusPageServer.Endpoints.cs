using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Exch.Dsr.Control;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Exch.Dsr.StatusPage;

public sealed partial class StatusPageServer
{
    /// <summary>Rows a listing returns unless <c>limit</c> asks for another number.</summary>
    public const int DefaultListLimit = 1000;

    /// <summary>The most rows a listing returns, whatever <c>limit</c> says.</summary>
    public const int MaxListLimit = 10000;

    private const string NameRule = "1 to 64 letters, digits, '.', '_' or '-'";

    private void MapEndpoints(WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-store";
            await next(context).ConfigureAwait(false);
        });

        app.MapGet("/", new RequestDelegate(PageAsync));
        // Browsers ask for it on every page; an empty answer keeps a 404 out of their console.
        app.MapGet("/favicon.ico", new RequestDelegate(context =>
        {
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }));
        app.MapGet("/api/status", new RequestDelegate(StatusAsync));
        app.MapGet("/api/connections", new RequestDelegate(ConnectionsAsync));
        app.MapGet("/api/persistence", new RequestDelegate(PersistenceAsync));
        app.MapPost("/api/servers/{name}/{action}", new RequestDelegate(ServerActionAsync));
        app.MapPost("/api/reload", new RequestDelegate(ReloadAsync));
        app.MapFallback(new RequestDelegate(context => WriteAsync(context, StatusCodes.Status404NotFound,
            ControlResult.Failure($"nothing at {context.Request.Method} {context.Request.Path}; the status page is at /"))));
    }

    private async Task PageAsync(HttpContext context)
    {
        var initial = "null";
        await WithControlAsync(context, async cancellationToken =>
        {
            var status = await _control.ReadStatusAsync(cancellationToken).ConfigureAwait(false);
            initial = JsonSerializer.Serialize(status, StatusPageJson.Default.ClusterStatus);
        }, writeFailure: false).ConfigureAwait(false);

        // Without a first status the page still loads, says exch-dsr is not answering, and keeps trying.
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers[HeaderNames.ContentSecurityPolicy] = _html!.ContentSecurityPolicy;
        await context.Response.WriteAsync(_html.Render(initial), context.RequestAborted).ConfigureAwait(false);
    }

    private Task StatusAsync(HttpContext context) => WithControlAsync(context, async cancellationToken =>
    {
        var status = await _control.ReadStatusAsync(cancellationToken).ConfigureAwait(false);
        await WriteAsync(context, StatusCodes.Status200OK, status, StatusPageJson.Default.ClusterStatus).ConfigureAwait(false);
    });

    private Task ConnectionsAsync(HttpContext context)
    {
        if (ReadFilter(context.Request.Query, out var filter) is { } error)
        {
            return WriteAsync(context, StatusCodes.Status400BadRequest, ControlResult.Failure(error));
        }

        return WithControlAsync(context, async cancellationToken =>
        {
            var rows = await _control.ListConnectionsAsync(filter, cancellationToken).ConfigureAwait(false);
            await WriteAsync(context, StatusCodes.Status200OK, Bound(rows, filter.Limit),
                StatusPageJson.Default.TableResponseConnectionRow).ConfigureAwait(false);
        });
    }

    private Task PersistenceAsync(HttpContext context)
    {
        if (ReadFilter(context.Request.Query, out var filter) is { } error)
        {
            return WriteAsync(context, StatusCodes.Status400BadRequest, ControlResult.Failure(error));
        }

        return WithControlAsync(context, async cancellationToken =>
        {
            var rows = await _control.ListPersistenceAsync(filter, cancellationToken).ConfigureAwait(false);
            await WriteAsync(context, StatusCodes.Status200OK, Bound(rows, filter.Limit),
                StatusPageJson.Default.TableResponsePersistenceRow).ConfigureAwait(false);
        });
    }

    private async Task ServerActionAsync(HttpContext context)
    {
        if (await PassGateAsync(context).ConfigureAwait(false) is not { } user)
        {
            return;
        }

        var name = context.GetRouteValue("name") as string ?? "";
        var verb = context.GetRouteValue("action") as string ?? "";
        var action = ControlProtocol.AdminActionNamed(verb);
        var isWeight = string.Equals(verb, ControlProtocol.Weight, StringComparison.OrdinalIgnoreCase);
        if (action is null && !isWeight)
        {
            await WriteAsync(context, StatusCodes.Status404NotFound,
                ControlResult.Failure($"no server action '{verb}'; use drain, disable, enable or weight")).ConfigureAwait(false);
            return;
        }

        var query = context.Request.Query;
        var serviceError = ReadName(query, "service", out var service);
        var error = !IsName(name) ? $"'{name}' is not a server name ({NameRule})" : serviceError;
        var weight = 0;
        if (error is null && isWeight)
        {
            error = ReadSingle(query, "weight", out var text) ?? (text is null
                ? "give the new weight as ?weight=N (0 to 65535)"
                : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out weight) && weight <= 65535
                    ? null
                    : $"weight '{text}' is not a whole number from 0 to 65535");
        }

        if (error is not null)
        {
            await WriteAsync(context, StatusCodes.Status400BadRequest, ControlResult.Failure(error)).ConfigureAwait(false);
            return;
        }

        await WithControlAsync(context, async cancellationToken =>
        {
            // Checked against the running configuration first so a typo gets 404 and the names that exist, and so the
            // contract is called with the names as configured whatever case the caller used.
            var status = await _control.ReadStatusAsync(cancellationToken).ConfigureAwait(false);
            if (Resolve(status, name, service, out var server, out var serviceName) is { } missing)
            {
                await WriteAsync(context, StatusCodes.Status404NotFound, ControlResult.Failure(missing)).ConfigureAwait(false);
                return;
            }

            var where = serviceName is null ? "in every service" : $"in {serviceName}";
            var description = action is { } admin
                ? $"{admin.ToString().ToLowerInvariant()} {server} {where}"
                : $"weight {weight} for {server} {where}";
            var result = action is { } change
                ? await _control.SetAdminStateAsync(server, change, serviceName, cancellationToken).ConfigureAwait(false)
                : await _control.SetWeightAsync(server, weight, serviceName, cancellationToken).ConfigureAwait(false);
            await WriteResultAsync(context, description, user, result).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    private async Task ReloadAsync(HttpContext context)
    {
        if (await PassGateAsync(context).ConfigureAwait(false) is not { } user)
        {
            return;
        }

        await WithControlAsync(context, async cancellationToken =>
        {
            var result = await _control.ReloadAsync(cancellationToken).ConfigureAwait(false);
            await WriteResultAsync(context, "reload", user, result).ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <summary>The user to log when the request may change things; otherwise null, with the refusal written.</summary>
    private async Task<string?> PassGateAsync(HttpContext context)
    {
        if (_gate!.Check(context.Request, out var user) is not { } refusal)
        {
            return user;
        }

        if (refusal.Log)
        {
            Log.Rejected(_logger, context.Request.Method, LoggedPath(context), Remote(context), refusal.Status, refusal.Reason);
        }

        if (refusal.Status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"exch-dsr\", charset=\"UTF-8\"";
        }

        if (refusal.RetryAfter is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = ((int)retryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await WriteAsync(context, refusal.Status, ControlResult.Failure(refusal.Reason)).ConfigureAwait(false);
        return null;
    }

    private Task WriteResultAsync(HttpContext context, string description, string user, ControlResult result)
    {
        if (result.Ok)
        {
            Log.Applied(_logger, description, user, Remote(context), result.Message);
            return WriteAsync(context, StatusCodes.Status200OK, result);
        }

        Log.Refused(_logger, description, user, Remote(context), result.Message, string.Join("; ", result.Errors));
        return WriteAsync(context, StatusCodes.Status409Conflict, result);
    }

    /// <summary>
    /// Runs a call on the running exch-dsr with <see cref="StatusPageOptions.ControlTimeout"/>: a call that hangs or
    /// throws costs this one request a 503 or 500, never the server.
    /// </summary>
    private async Task WithControlAsync(HttpContext context, Func<CancellationToken, Task> work, bool writeFailure = true)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(_options.ControlTimeout);
        try
        {
            await work(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            Log.ControlTimedOut(_logger, context.Request.Method, LoggedPath(context), Remote(context), _options.ControlTimeout);
            if (writeFailure && !context.Response.HasStarted)
            {
                var changing = HttpMethods.IsPost(context.Request.Method) ? "; the change may still be applied, check the status" : "";
                await WriteAsync(context, StatusCodes.Status503ServiceUnavailable, ControlResult.Failure(
                    $"exch-dsr did not answer within {_options.ControlTimeout.TotalSeconds:0} s{changing}")).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (!context.RequestAborted.IsCancellationRequested)
        {
            Log.RequestFailed(_logger, context.Request.Method, LoggedPath(context), Remote(context), e);
            if (writeFailure && !context.Response.HasStarted)
            {
                await WriteAsync(context, StatusCodes.Status500InternalServerError,
                    ControlResult.Failure($"internal error: {e.Message}")).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The service and server as configured, or why one of them does not exist.</summary>
    private static string? Resolve(ClusterStatus status, string server, string? service, out string serverName, out string? serviceName)
    {
        serverName = server;
        serviceName = null;
        var services = status.Services;
        if (service is not null)
        {
            var match = services.FirstOrDefault(s => string.Equals(s.Name, service, StringComparison.OrdinalIgnoreCase));
            if (match is null)
            {
                return $"no service '{service}'; services: {string.Join(", ", services.Select(s => s.Name))}";
            }

            serviceName = match.Name;
            services = [match];
        }

        var members = services.SelectMany(s => s.Members).Select(m => m.Server).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        var found = members.FirstOrDefault(m => string.Equals(m, server, StringComparison.OrdinalIgnoreCase));
        if (found is null)
        {
            return serviceName is null
                ? $"no server '{server}'; servers: {string.Join(", ", members)}"
                : $"server '{server}' is not a member of {serviceName}; members: {string.Join(", ", members)}";
        }

        serverName = found;
        return null;
    }

    /// <summary>Reads <c>service</c>, <c>server</c>, <c>client</c> and <c>limit</c>; returns why they are wrong, or null.</summary>
    private static string? ReadFilter(IQueryCollection query, out TableFilter filter)
    {
        filter = new TableFilter(Limit: DefaultListLimit);
        // Every key is read so each out value is assigned; the first error wins.
        var errors = new[]
        {
            ReadName(query, "service", out var service),
            ReadName(query, "server", out var server),
            ReadSingle(query, "client", out var client),
            ReadSingle(query, "limit", out var limitText),
        };
        if (errors.FirstOrDefault(e => e is not null) is { } error)
        {
            return error;
        }

        if (client is not null && !IPAddress.TryParse(client, out _) && !IPNetwork.TryParse(client, out _))
        {
            return $"client '{client}' is not an address or a prefix (e.g. 192.0.2.7 or 192.0.2.0/24)";
        }

        var limit = DefaultListLimit;
        if (limitText is not null
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxListLimit))
        {
            return $"limit '{limitText}' is not a whole number from 1 to {MaxListLimit}";
        }

        filter = new TableFilter(service, server, client, limit);
        return null;
    }

    private static string? ReadName(IQueryCollection query, string key, out string? name)
    {
        var error = ReadSingle(query, key, out name);
        return error is null && name is not null && !IsName(name) ? $"{key} '{name}' is not a name ({NameRule})" : error;
    }

    private static string? ReadSingle(IQueryCollection query, string key, out string? value)
    {
        value = null;
        var values = query[key];
        if (values.Count > 1)
        {
            return $"give {key} once";
        }

        value = StringValues.IsNullOrEmpty(values) ? null : values.ToString();
        return null;
    }

    private static bool IsName(string name)
        => name.Length is >= 1 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    // The contract never promises to stop at the limit; the API does.
    private static TableResponse<T> Bound<T>(IReadOnlyList<T> rows, int limit)
        => new(rows.Count > limit ? rows.Take(limit).ToList() : rows, limit, rows.Count >= limit);

    // Encoded, because a decoded %0A in a path would let a client forge a log line.
    private static string LoggedPath(HttpContext context) => context.Request.Path.ToUriComponent();

    private static string Remote(HttpContext context)
        => new IPEndPoint(context.Connection.RemoteIpAddress ?? IPAddress.None, context.Connection.RemotePort).ToString();

    private static Task WriteAsync(HttpContext context, int status, ControlResult result)
        => WriteAsync(context, status, result, StatusPageJson.Default.ControlResult);

    private static Task WriteAsync<T>(HttpContext context, int status, T value, JsonTypeInfo<T> type)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(value, type, contentType: null, context.RequestAborted);
    }
}
