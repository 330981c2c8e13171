using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Exch.Dsr.Configuration;

public static class ExchDsrServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IOptions{ExchDsrConfig}"/> built from <paramref name="configuration"/> by
    /// <see cref="ExchDsrConfigLoader"/>, checked when the host starts: a bad file stops the start with every
    /// positioned error in the <see cref="OptionsValidationException"/>, instead of failing at first use.
    /// </summary>
    public static IServiceCollection AddExchDsrConfiguration(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        // The record is immutable and only the loader can build it (its errors need the file positions, which are
        // gone once bound), so the loader is the factory and the validator in one: the default factory would
        // create an empty instance and configure it in place.
        services.AddSingleton<IOptionsFactory<ExchDsrConfig>>(new ExchDsrConfigOptionsFactory(configuration));
        services.AddOptions<ExchDsrConfig>().ValidateOnStart();
        return services;
    }
}

internal sealed class ExchDsrConfigOptionsFactory : IOptionsFactory<ExchDsrConfig>
{
    private readonly IConfiguration _configuration;

    public ExchDsrConfigOptionsFactory(IConfiguration configuration) => _configuration = configuration;

    public ExchDsrConfig Create(string name)
    {
        var result = ExchDsrConfigLoader.Load(_configuration);
        return result.Config ?? throw new OptionsValidationException(name, typeof(ExchDsrConfig), [.. result.Errors.Select(e => e.ToString())]);
    }
}
