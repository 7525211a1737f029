{#-
    Traceability completeness per produced lot whose work order finished.
    Production date d = local date of the work order's actual_end.
    Effective BOM on d: a BOM line is effective when effective_from <= d and (effective_to is null or
    effective_to >= d) -- effective_to is INCLUSIVE (the last day the line applies). When lines of two
    revisions are effective on d (a hand-over day), the revision with the latest effective_from wins
    (then the highest revision label), so both inclusive and exclusive feeds give the new revision.
    Required: lot-controlled components of that revision. Covered: a lot_consumption row of the work order
    for that component material. Without an effective BOM nothing is required: the lot counts as complete
    (the definition's literal reading) and has_effective_bom = false flags it for master-data review.
-#}
with

produced_lots as (

    select * from {{ ref('int_produced_lots_joined') }}
    where actual_end is not null

),

bom_lines as (

    select * from {{ ref('stg_feed__bom_lines') }}

),

materials as (

    select * from {{ ref('stg_feed__materials') }}

),

consumptions as (

    select * from {{ ref('stg_feed__lot_consumptions') }}

),

effective_lines as (

    select
        produced_lots.lot_id,
        bom_lines.revision,
        bom_lines.component_material_id,
        bom_lines.effective_from
    from produced_lots
    inner join bom_lines
        on produced_lots.material_id = bom_lines.parent_material_id
        and bom_lines.effective_from <= produced_lots.production_date
        and (bom_lines.effective_to is null or bom_lines.effective_to >= produced_lots.production_date)

),

ranked_revisions as (

    select
        lot_id,
        revision,
        row_number() over (
            partition by lot_id
            order by max(effective_from) desc, revision desc
        ) as rn
    from effective_lines
    group by lot_id, revision

),

effective_revision as (

    select lot_id, revision
    from ranked_revisions
    where rn = 1

),

required_components as (

    select distinct
        effective_lines.lot_id,
        effective_lines.component_material_id
    from effective_lines
    inner join effective_revision
        on effective_lines.lot_id = effective_revision.lot_id
        and effective_lines.revision = effective_revision.revision
    inner join materials
        on effective_lines.component_material_id = materials.material_id
    where materials.lot_controlled

),

consumed_materials as (

    select distinct
        wo_id,
        component_material_id
    from consumptions

),

component_coverage as (

    select
        required_components.lot_id,
        required_components.component_material_id,
        consumed_materials.component_material_id is not null as is_covered
    from required_components
    inner join produced_lots
        on required_components.lot_id = produced_lots.lot_id
    left join consumed_materials
        on produced_lots.wo_id = consumed_materials.wo_id
        and required_components.component_material_id = consumed_materials.component_material_id

),

coverage_by_lot as (

    select
        lot_id,
        count(*) as n_components_required,
        sum(case when is_covered then 1 else 0 end) as n_components_covered
    from component_coverage
    group by lot_id

),

missing_by_lot as (

    select
        lot_id,
        {{ sorted_listagg('component_material_id', "', '") }}
            as missing_components
    from component_coverage
    where not is_covered
    group by lot_id

),

final as (

    select
        produced_lots.lot_id,
        produced_lots.wo_id,
        produced_lots.material_id,
        produced_lots.site_id,
        produced_lots.actual_end,
        produced_lots.production_date,
        effective_revision.revision as bom_revision,
        effective_revision.revision is not null as has_effective_bom,
        coalesce(coverage_by_lot.n_components_required, 0) as n_components_required,
        coalesce(coverage_by_lot.n_components_covered, 0) as n_components_covered,
        missing_by_lot.missing_components,
        coalesce(coverage_by_lot.n_components_covered, 0)
            = coalesce(coverage_by_lot.n_components_required, 0) as is_complete
    from produced_lots
    left join effective_revision
        on produced_lots.lot_id = effective_revision.lot_id
    left join coverage_by_lot
        on produced_lots.lot_id = coverage_by_lot.lot_id
    left join missing_by_lot
        on produced_lots.lot_id = missing_by_lot.lot_id

)

select * from final
