<?xml version="1.0"?>
<!-- One line per configured fact of a CIB, ids left out, so that CIBs built
     by different tools (pcs, crm shell) can be compared after sorting. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text"/>

<xsl:template match="/">
  <xsl:apply-templates select="//crm_config//nvpair"/>
  <xsl:apply-templates select="//nodes/node/instance_attributes/nvpair"/>
  <xsl:apply-templates select="//resources//primitive"/>
  <xsl:apply-templates select="//resources//group"/>
  <xsl:apply-templates select="//resources//clone"/>
  <xsl:apply-templates select="//constraints/*"/>
</xsl:template>

<xsl:template match="crm_config//nvpair">
  <xsl:value-of select="concat('property ', @name, '=', @value, '&#10;')"/>
</xsl:template>

<xsl:template match="nodes/node/instance_attributes/nvpair">
  <xsl:value-of select="concat('node ', ../../@uname, ' ', @name, '=',
                               @value, '&#10;')"/>
</xsl:template>

<xsl:template match="primitive">
  <xsl:variable name="id" select="@id"/>
  <xsl:value-of select="concat('primitive ', $id, ' ', @class, ':',
                               @provider, ':', @type, '&#10;')"/>
  <xsl:for-each select="instance_attributes/nvpair">
    <xsl:value-of select="concat('param ', $id, ' ', @name, '=', @value,
                                 '&#10;')"/>
  </xsl:for-each>
  <xsl:for-each select="meta_attributes/nvpair">
    <xsl:value-of select="concat('meta ', $id, ' ', @name, '=', @value,
                                 '&#10;')"/>
  </xsl:for-each>
  <xsl:for-each select="operations/op[@name = 'monitor']">
    <xsl:value-of select="concat('monitor ', $id, ' interval=', @interval,
                                 ' timeout=', @timeout, ' role=', @role,
                                 ' depth=', instance_attributes/nvpair[
                                     @name = 'OCF_CHECK_LEVEL']/@value,
                                 '&#10;')"/>
  </xsl:for-each>
</xsl:template>

<xsl:template match="group">
  <xsl:text>group </xsl:text>
  <xsl:value-of select="@id"/>
  <xsl:for-each select="primitive">
    <xsl:value-of select="concat(' ', @id)"/>
  </xsl:for-each>
  <xsl:text>&#10;</xsl:text>
</xsl:template>

<xsl:template match="clone">
  <xsl:value-of select="concat('clone ', @id, ' ', (primitive|group)/@id,
                               '&#10;')"/>
  <xsl:for-each select="meta_attributes/nvpair">
    <xsl:value-of select="concat('meta ', ../../@id, ' ', @name, '=',
                                 @value, '&#10;')"/>
  </xsl:for-each>
</xsl:template>

<!-- an order's defaults (start then start, Mandatory) are left out: pcs
     writes them, the crm shell does not -->
<xsl:template match="constraints/*">
  <xsl:value-of select="local-name()"/>
  <xsl:for-each select="@*[local-name() != 'id' and
      not(contains('|first-action=start|then-action=start|kind=Mandatory|',
                   concat('|', local-name(), '=', ., '|')))]">
    <xsl:sort select="local-name()"/>
    <xsl:value-of select="concat(' ', local-name(), '=', .)"/>
  </xsl:for-each>
  <xsl:text>&#10;</xsl:text>
</xsl:template>
</xsl:stylesheet>
